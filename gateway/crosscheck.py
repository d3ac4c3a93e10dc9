"""Consent records against the audit log: a rolled-back consent contradicts what the log recorded.

Every consent revision is signed, so a changed row is caught when it is loaded; but someone with
database access could delete a consent's newer revisions (a revocation) and restore its older
signed head from a backup — every remaining signature still verifies. The audit log recorded the
revision and head hash of each grant, revocation and erasure (and of the consent behind every gate
decision), in an append-only, signed Merkle log. :func:`check_consents` replays those entries and
compares them with the database: a consent that is now *behind* a revision the log saw, holds a
different hash for it, or has disappeared, is reported with the entry that proves it.

    $ likeness audit check-consents          # exit 0: consistent; exit 1: the first contradiction, named
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit import AuditKind, AuditLog
from consent import ConsentService, ConsentTamperedError, UnknownConsentError

_KINDS = (AuditKind.CONSENT_GRANTED, AuditKind.CONSENT_REVOKED, AuditKind.CONSENT_ERASED,
          AuditKind.GENERATION_DECIDED, AuditKind.CONSENT_CHECKED)
_PAGE = 500


@dataclass(frozen=True)
class Logged:
    """The newest revision of one consent that the log saw, and where."""

    revision: int
    head_hash: str | None
    index: int
    kind: str


@dataclass
class ConsentCheckReport:
    consents: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"consents consistent with the audit log: {self.consents} consents, {self.entries} entries"
        return f"{len(self.problems)} consent(s) contradict the audit log; first: {self.problems[0]}"


def _revision_and_head(kind: str, data: dict[str, Any]) -> tuple[int | None, str | None]:
    if kind in (AuditKind.GENERATION_DECIDED, AuditKind.CONSENT_CHECKED):
        return data.get("consent_revision"), data.get("consent_head")
    return data.get("revision"), data.get("head_hash")


def logged_revisions(log: AuditLog) -> tuple[dict[str, Logged], int]:
    """For every consent the log mentions, the newest revision it recorded (and the number of entries read)."""
    newest: dict[str, Logged] = {}
    read = 0
    for kind in _KINDS:
        offset = 0
        while True:
            page = log.search(kind=kind, limit=_PAGE, offset=offset)
            for entry in page:
                read += 1
                revision, head = _revision_and_head(entry.kind, entry.data)
                if entry.consent_id is None or not isinstance(revision, int):
                    continue
                known = newest.get(entry.consent_id)
                if known is None or revision > known.revision:
                    newest[entry.consent_id] = Logged(revision, head if isinstance(head, str) else None, entry.index,
                                                      entry.kind)
            if len(page) < _PAGE:
                break
            offset += _PAGE
    return newest, read


def check_consents(log: AuditLog, registry: ConsentService) -> ConsentCheckReport:
    """Compare every consent the log mentions with the database (see the module docstring)."""
    newest, read = logged_revisions(log)
    report = ConsentCheckReport(consents=len(newest), entries=read)
    for consent_id, logged in sorted(newest.items(), key=lambda item: item[1].index):
        where = f"audit entry {logged.index} ({logged.kind}) recorded revision {logged.revision}"
        try:
            current = registry.get(consent_id)
        except UnknownConsentError:
            report.problems.append(f"consent {consent_id} is missing from the database; {where}")
            continue
        except ConsentTamperedError as exc:
            report.problems.append(f"consent {consent_id} fails its own signature check ({exc}); {where}")
            continue
        if current.revision < logged.revision:
            report.problems.append(f"consent {consent_id} is at revision {current.revision} in the database but "
                                   f"{where}: newer revisions were removed (a rollback)")
            continue
        hashes = {r.revision: r.content_hash for r in current.history}
        if logged.head_hash is not None and hashes.get(logged.revision) != logged.head_hash:
            report.problems.append(f"consent {consent_id}: revision {logged.revision} in the database is not the one "
                                   f"{where} (its hash differs)")
    return report


__all__ = ["ConsentCheckReport", "check_consents", "logged_revisions"]
