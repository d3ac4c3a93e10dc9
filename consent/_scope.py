"""Whether a consent's current revision covers a request (private; pure: no I/O, no clock).

Every check runs and says why, in a fixed order: status (erased, revoked, not yet valid,
expired), partner, purpose (a prohibited purpose is refused even when allowed), language,
territory. Covered only when nothing refused; a restriction the request cannot be checked
against (a language restriction and no language given) refuses, as a policy must fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from consent._crypto import utc_text
from consent.models import ConsentRevision
from consent.schemas import ANY_PURPOSE, ANY_VETTED, ConsentStatus, RevisionKind


def status_at(rev: ConsentRevision, at: datetime) -> ConsentStatus:
    if rev.kind == RevisionKind.ERASED:
        return ConsentStatus.ERASED
    if rev.kind == RevisionKind.REVOKED:
        return ConsentStatus.REVOKED
    if at < rev.valid_from:
        return ConsentStatus.NOT_YET_VALID
    if rev.valid_until is not None and at >= rev.valid_until:
        return ConsentStatus.EXPIRED
    return ConsentStatus.ACTIVE


@dataclass
class Evaluation:
    status: ConsentStatus
    refused: list[tuple[str, str]] = field(default_factory=list)
    allowed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return self.status == ConsentStatus.ACTIVE and not self.refused

    def reasons(self) -> list[tuple[str, str]]:
        """What refused, or (when covered) what allowed: ``(code, words)`` pairs."""
        return self.refused if self.refused else self.allowed


def evaluate(
    rev: ConsentRevision,
    *,
    partner: str,
    purpose: str,
    at: datetime,
    language: str | None = None,
    territory: str | None = None,
) -> Evaluation:
    status = status_at(rev, at)
    result = Evaluation(status=status)
    refuse, allow = result.refused.append, result.allowed.append

    if status == ConsentStatus.ERASED:
        refuse(("status.erased", "the subject erased their data: this consent permits nothing"))
    elif status == ConsentStatus.REVOKED:
        refuse(("status.revoked", f"the subject revoked this consent on {utc_text(rev.created_at)}"))
    elif status == ConsentStatus.NOT_YET_VALID:
        refuse(("time.not_yet_valid", f"the consent is valid only from {utc_text(rev.valid_from)}"))
    elif status == ConsentStatus.EXPIRED:
        refuse(("time.expired", f"the consent expired on {utc_text(rev.valid_until)}"))
    else:
        until = f"until {utc_text(rev.valid_until)}" if rev.valid_until else "until revoked"
        allow(("time.valid", f"the consent is valid from {utc_text(rev.valid_from)} {until}"))

    if rev.partners == ANY_VETTED:
        allow(("partner.any_vetted", f"partner {partner!r} is covered: the consent allows any vetted partner"))
    elif partner in rev.partners:
        allow(("partner.listed", f"partner {partner!r} is named in the consent"))
    else:
        refuse(("partner.not_listed", f"partner {partner!r} is not among the partners the consent names"))

    if purpose in rev.prohibited_purposes:
        refuse(("purpose.prohibited", f"purpose {purpose!r} is prohibited by the consent"))
    elif rev.purposes == ANY_PURPOSE:
        allow(("purpose.any", f"purpose {purpose!r} is covered: the consent allows any purpose it does not prohibit"))
    elif purpose in rev.purposes:
        allow(("purpose.listed", f"purpose {purpose!r} is named in the consent"))
    else:
        refuse(("purpose.not_listed", f"purpose {purpose!r} is not among the purposes the consent names"))

    for kind, kinds, listed, stated, normal in (
        ("language", "languages", rev.languages, language, language and language.lower()),
        ("territory", "territories", rev.territories, territory, territory and territory.upper()),
    ):
        if listed is None:
            continue
        if stated is None:
            refuse((f"{kind}.unstated", f"the consent is limited to {kinds} {', '.join(listed)}; the request states "
                    "none"))
        elif normal in listed:
            allow((f"{kind}.listed", f"{kind} {stated!r} is named in the consent"))
        else:
            refuse((f"{kind}.not_listed", f"{kind} {stated!r} is not among {', '.join(listed)}"))
    return result
