"""The facts a decision is made on (:class:`PolicyRequest`) and the decision itself (:class:`Decision`).

Plain values the gateway gathers before it asks; ``decide()`` reads nothing else.

>>> from datetime import UTC, datetime
>>> from policy.schemas import ConsentFacts, PartnerFacts, PolicyRequest
>>> partner = PartnerFacts(id="ptn_1", name="Acme", active=True, use_cases=["education", "education"])
>>> partner.name, partner.use_cases
('acme', ('education',))
>>> consent = ConsentFacts(id="cns_1", revision=1, status="active", partners="any_vetted", purposes="any",
...                        prohibited_purposes=["political"], valid_from=datetime(2026, 1, 1, tzinfo=UTC))
>>> request = PolicyRequest(action="check-consent", partner=partner, consent=consent, purpose="education",
...                         now=datetime(2026, 6, 1, tzinfo=UTC))
>>> request.action
<Action.CHECK_CONSENT: 'check-consent'>
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

ANY_VETTED = "any_vetted"
ANY_PURPOSE = "any"
CONSENT_STATUSES = ("active", "not_yet_valid", "expired", "revoked", "erased")
SCALE = 1_000_000
"""Scores (similarity, threshold, margins) reach Cedar as integers in millionths: Cedar has no floats."""

DEFAULT_DENY = "default-deny"
EVALUATION_ERROR = "evaluation-error"


class Action(StrEnum):
    """What the partner asks to do (the Cedar action ids)."""

    GENERATE = "generate"
    CHECK_CONSENT = "check-consent"


def _names(values: Iterable[str], what: str, *, lower: bool = False) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of names, not the string {values!r}")
    out = set()
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{what} must hold strings, not {type(value).__name__}")
        out.add(value.lower() if lower else value)
    return tuple(sorted(out))


def _aware(moment: datetime | None, what: str) -> None:
    if moment is None:
        return
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone")


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, kw_only=True)
class PartnerFacts:
    """The partner asking. A consent may name it by ``name`` or ``id``, compared case-insensitively."""

    id: str
    name: str
    active: bool
    use_cases: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not isinstance(self.name, str):
            raise TypeError("a partner's id and name are strings")
        _set(self, "name", self.name.lower())
        _set(self, "active", bool(self.active))
        _set(self, "use_cases", _names(self.use_cases, "use_cases"))


@dataclass(frozen=True, kw_only=True)
class ConsentFacts:
    """The consent at its current revision, with ``status`` as the consent registry computed it for ``now``.

    ``partners`` is a list of partner names or ``"any_vetted"``; ``purposes`` a list or ``"any"``.
    """

    id: str
    revision: int
    status: str
    partners: tuple[str, ...] | Literal["any_vetted"]
    purposes: tuple[str, ...] | Literal["any"]
    prohibited_purposes: tuple[str, ...] = ()
    valid_from: datetime
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise TypeError("a consent id is a string")
        if isinstance(self.revision, bool) or not isinstance(self.revision, int) or self.revision < 1:
            raise ValueError(f"a consent revision is a positive integer, not {self.revision!r}")
        status = str(self.status)
        if status not in CONSENT_STATUSES:
            raise ValueError(f"unknown consent status {status!r}: one of {', '.join(CONSENT_STATUSES)}")
        _set(self, "status", status)
        if self.partners != ANY_VETTED:
            _set(self, "partners", _names(self.partners, "partners", lower=True))
        if self.purposes != ANY_PURPOSE:
            _set(self, "purposes", _names(self.purposes, "purposes"))
        _set(self, "prohibited_purposes", _names(self.prohibited_purposes, "prohibited_purposes"))
        _aware(self.valid_from, "valid_from")
        _aware(self.valid_until, "valid_until")


def _score(value: float | None, what: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    if not -2.0 <= float(value) <= 2.0:  # cosine similarities lie in [-1, 1], margins in [0, 2]
        raise ValueError(f"{what} must lie in [-2, 2], not {value}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class IdentityFacts:
    """The portrait matched against the consent's reference (cosine similarity, calibrated by ``faces``).

    ``margin``: how far the best other enrolled person stays behind (None: nobody else enrolled).
    ``required_margin``: the calibration's ``min_margin``.
    """

    similarity: float
    threshold: float
    margin: float | None = None
    required_margin: float

    def __post_init__(self) -> None:
        _set(self, "similarity", _score(self.similarity, "similarity"))
        _set(self, "threshold", _score(self.threshold, "threshold"))
        _set(self, "margin", _score(self.margin, "margin", optional=True))
        _set(self, "required_margin", _score(self.required_margin, "required_margin"))

    def scaled(self) -> dict[str, int]:
        """The scores in millionths, rounded to the nearest one, as Cedar reads them."""
        out = {name: round(getattr(self, name) * SCALE) for name in ("similarity", "threshold", "required_margin")}
        if self.margin is not None:
            out["margin"] = round(self.margin * SCALE)
        return out


@dataclass(frozen=True, kw_only=True)
class QuotaFacts:
    """Generations the partner made in the current period, and how many it may make."""

    used: int
    limit: int

    def __post_init__(self) -> None:
        for name in ("used", "limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
                raise ValueError(f"quota {name} is a non-negative integer, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class PolicyRequest:
    """Everything a decision rests on. ``identity`` and ``quota`` are needed to generate, not to check."""

    action: Action
    partner: PartnerFacts
    consent: ConsentFacts
    purpose: str
    now: datetime
    identity: IdentityFacts | None = None
    quota: QuotaFacts | None = None

    def __post_init__(self) -> None:
        _set(self, "action", Action(self.action))
        if not isinstance(self.partner, PartnerFacts) or not isinstance(self.consent, ConsentFacts):
            raise TypeError("partner and consent must be PartnerFacts and ConsentFacts")
        if self.identity is not None and not isinstance(self.identity, IdentityFacts):
            raise TypeError("identity must be IdentityFacts or None")
        if self.quota is not None and not isinstance(self.quota, QuotaFacts):
            raise TypeError("quota must be QuotaFacts or None")
        if not isinstance(self.purpose, str):
            raise TypeError("purpose is a string")
        _aware(self.now, "now")


@dataclass(frozen=True)
class Reason:
    """Why: the id of a determining policy (its ``@id``) and its ``@reason`` in words."""

    id: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text}


@dataclass(frozen=True)
class Decision:
    """Allowed or not, the policies that determined it, and the version of the policy set that decided.

    A deny lists every forbid that matched; with none, the reason is ``default-deny``. A failed
    evaluation denies with ``evaluation-error``.
    """

    allowed: bool
    reasons: tuple[Reason, ...]
    policy_version: str

    @property
    def reason_ids(self) -> tuple[str, ...]:
        return tuple(reason.id for reason in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        """For the audit log and the partner's error body."""
        return {"allowed": self.allowed, "reasons": [r.to_dict() for r in self.reasons],
                "policy_version": self.policy_version}
