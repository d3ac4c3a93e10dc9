"""Shapes going in and out of the consent registry; no private column (token hash, ciphertext, key) is in any.

>>> from datetime import datetime, UTC
>>> from consent.schemas import ConsentScope
>>> scope = ConsentScope(partners=["acme", "Globex"], purposes="any", prohibited_purposes=["political"],
...                      valid_until=datetime(2030, 1, 1, tzinfo=UTC), languages=["EN", "fr-CA"])
>>> scope.partners, scope.languages
(['Globex', 'acme'], ['en', 'fr-ca'])
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

ANY_VETTED = "any_vetted"
ANY_PURPOSE = "any"

_PARTNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_TERRITORY = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RevisionKind(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    ERASED = "erased"


class ConsentStatus(StrEnum):
    """A consent's state at a moment: computed from its current revision and the time, never stored."""

    ACTIVE = "active"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    ERASED = "erased"


def _names(
    pattern: re.Pattern[str], what: str, *, fold: str | None = None, empty_ok: bool = False
) -> Callable[[list[str]], list[str]]:
    """A validator: each name matches ``pattern`` (after case folding); sorted, without duplicates."""

    def check(values: list[str]) -> list[str]:
        out = set()
        for value in values:
            folded = value.lower() if fold == "lower" else value.upper() if fold == "upper" else value
            if not pattern.match(folded):
                raise ValueError(f"{value!r} is not a valid {what}")
            if folded in (ANY_VETTED, ANY_PURPOSE):
                raise ValueError(f"{value!r} is reserved: give it alone, not inside a list, to mean everything")
            out.add(folded)
        if not out and not empty_ok:
            raise ValueError(f"name at least one {what}")
        return sorted(out)

    return check


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("a time must carry its time zone (e.g. 2030-01-01T00:00:00Z)")
    return value


PartnerList = Annotated[list[str], AfterValidator(_names(_PARTNER, "partner id"))]
PurposeList = Annotated[list[str], AfterValidator(_names(_PURPOSE, "purpose (lowercase letters, digits, . _ -)"))]
AwareDatetime = Annotated[datetime | None, AfterValidator(_aware)]


class ConsentScope(BaseModel):
    """What a consent permits: who (partners), for what (purposes), where, in which languages, and when.

    ``partners`` is a list of partner ids or ``"any_vetted"`` (any partner the platform vetted);
    ``purposes`` is a list or ``"any"``; a purpose in ``prohibited_purposes`` is refused even
    when ``purposes`` allows it. ``languages`` (BCP 47) and ``territories`` (ISO 3166-1
    alpha-2) restrict only when given. ``valid_from`` defaults to the moment of registration;
    ``valid_until`` of ``None`` means until revoked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    partners: PartnerList | Literal["any_vetted"]
    purposes: PurposeList | Literal["any"]
    prohibited_purposes: Annotated[list[str], AfterValidator(_names(_PURPOSE, "purpose", empty_ok=True))] = Field(
        default_factory=list
    )
    languages: Annotated[list[str], AfterValidator(_names(_LANGUAGE, "language tag", fold="lower"))] | None = None
    territories: Annotated[list[str], AfterValidator(_names(_TERRITORY, "territory code", fold="upper"))] | None = None
    valid_from: AwareDatetime = None
    valid_until: AwareDatetime = None

    @model_validator(mode="after")
    def _ordered(self) -> ConsentScope:
        if self.valid_from is not None and self.valid_until is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must come after valid_from")
        return self


class EvidenceCreate(BaseModel):
    """What supported the consent: the statement media's hash, the challenge's hash, scores, model versions.

    Hashes and numbers only: the media itself and any embedding never enter the registry through here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="e.g. statement, reference_photo")
    media_sha256: str = Field(pattern=_SHA256.pattern)
    challenge_sha256: str | None = Field(default=None, pattern=_SHA256.pattern)
    scores: dict[str, float] = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(default_factory=dict)


class EvidencePublic(EvidenceCreate):
    revision: int
    created_at: datetime
    content_hash: str


class RevisionPublic(BaseModel):
    """One entry of a consent's history."""

    model_config = ConfigDict(frozen=True)

    revision: int
    kind: RevisionKind
    scope: ConsentScope
    created_at: datetime
    reason: str
    content_hash: str


class ConsentPublic(BaseModel):
    """A consent as the gateway and its subject see it, verified against its signatures when loaded."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: ConsentStatus
    revision: int
    scope: ConsentScope
    created_at: datetime
    updated_at: datetime
    head_hash: str = Field(description="SHA-256 of the current revision: what an audit entry or manifest cites")
    token_prefix: str = Field(description="names the management token without revealing it")
    reference_embeddings: int = Field(description="how many reference embeddings can still be used")
    history: list[RevisionPublic]
    evidence: list[EvidencePublic]


class ScopeDecision(BaseModel):
    """Does the consent cover (partner, purpose, time)? A value, not an exception; reasons in order of checking.

    ``codes`` are stable identifiers of the reasons (``purpose.prohibited``, ``status.revoked``, …)
    for policy and audit; ``reasons`` say the same in words.
    """

    model_config = ConfigDict(frozen=True)

    covered: bool
    reasons: list[str]
    codes: list[str]
    consent_id: str
    revision: int
    head_hash: str
    status: ConsentStatus
    at: datetime


class PortraitMatch(BaseModel):
    """A portrait scored against the consent's reference embeddings, with the calibrated decision."""

    model_config = ConfigDict(frozen=True)

    consent_id: str
    similarity: float
    threshold: float
    same_person: bool
    margin: float | None = Field(description="how far the best other enrolled person stays behind; None: none")
    ambiguous: bool
    reason: str
    model_version: str
    references: int
    others_compared: int
    elapsed_ms: float


class GenerationPublic(BaseModel):
    """One use of the subject's likeness, as their management page lists it."""

    model_config = ConfigDict(frozen=True)

    generation_id: str
    watermark_id: str | None
    partner: str
    purpose: str
    created_at: datetime
    kind: str = Field(default="video", description="video (a job), or live (a live session, streamed as it was made)")
    output_deleted_at: datetime | None = None
    output_deleted_reason: str | None = None


class ErasureReceipt(BaseModel):
    """What an erasure did: the consents closed, and the embeddings whose key is destroyed."""

    model_config = ConfigDict(frozen=True)

    subject_erased_at: datetime
    consent_ids: list[str]
    embeddings_shredded: int


__all__ = [
    "ANY_PURPOSE",
    "ANY_VETTED",
    "ConsentPublic",
    "ConsentScope",
    "ConsentStatus",
    "ErasureReceipt",
    "EvidenceCreate",
    "EvidencePublic",
    "GenerationPublic",
    "PortraitMatch",
    "RevisionKind",
    "RevisionPublic",
    "ScopeDecision",
]
