"""Consent records against the audit log, both ways: a rolled-back or unlogged consent contradicts the log.

Every consent revision is signed, so a changed row is caught when it is loaded; but someone with
database access could delete a consent's newer revisions (a revocation) and restore its older
signed head from a backup — every remaining signature still verifies. The audit log recorded the
revision and head hash of each grant, revocation and erasure (and of the consent behind every gate
decision), in an append-only, signed Merkle log. :func:`check_consents` replays those entries and
compares them with the database: a consent that is now *behind* a revision the log saw, holds a
different hash for it, or has disappeared, is reported with the entry that proves it.

The other way round, every consent in the database must have each of its revisions logged: the
grant (revision 1) as ``consent.granted`` and every later revision as ``consent.revoked`` or
``consent.erased``, with the revision's hash. A consent inserted straight into the database (or
registered by a path that skipped the log) has no logged grant and is reported; the gate refuses
such a consent on every request (:func:`grant_logged`, one indexed lookup by consent id and kind).

    $ likeness audit check-consents          # exit 0: consistent; exit 1: the first contradiction, named
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit import AuditKind, AuditLog
from consent import ConsentPublic, ConsentService, ConsentTamperedError, UnknownConsentError

_KINDS = (AuditKind.CONSENT_GRANTED, AuditKind.CONSENT_REVOKED, AuditKind.CONSENT_ERASED,
          AuditKind.GENERATION_DECIDED, AuditKind.CONSENT_CHECKED)
_PAGE = 500
# the entry that logs each kind of revision, and the one the grant must have
_REVISION_KINDS = {"granted": AuditKind.CONSENT_GRANTED, "revoked": AuditKind.CONSENT_REVOKED,
                   "erased": AuditKind.CONSENT_ERASED}


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


def log_grant(log: AuditLog, consent: ConsentPublic, *, actor: str, **details: Any) -> None:
    """Write a new consent's ``consent.granted`` entry (ids, revision and head hash, plus ``details``):
    what the portal's event hook writes, for the other paths that register a consent (development tools)."""
    log.append(AuditKind.CONSENT_GRANTED, actor=actor, consent_id=consent.id,
               data={"revision": consent.revision, "head_hash": consent.head_hash, **details})


def grant_logged(log: AuditLog, consent: ConsentPublic) -> bool:
    """Whether the audit log holds this consent's grant: a ``consent.granted`` entry for its id naming
    revision 1 with the hash revision 1 has now. One indexed lookup (audit_entries (consent_id, kind))."""
    first = next((r for r in consent.history if r.revision == 1), None)
    if first is None:
        return False
    for entry in log.search(kind=AuditKind.CONSENT_GRANTED, consent_id=consent.id, limit=20):
        if entry.data.get("revision") == 1 and entry.data.get("head_hash") == first.content_hash:
            return True
    return False


def logged_revision_hashes(log: AuditLog) -> dict[tuple[str, int], set[tuple[str, str | None]]]:
    """(consent id, revision) → the (kind, head hash) pairs of the entries that logged that revision itself."""
    found: dict[tuple[str, int], set[tuple[str, str | None]]] = {}
    for kind in _REVISION_KINDS.values():
        offset = 0
        while True:
            page = log.search(kind=kind, limit=_PAGE, offset=offset)
            for entry in page:
                revision, head = entry.data.get("revision"), entry.data.get("head_hash")
                if entry.consent_id is not None and isinstance(revision, int):
                    found.setdefault((entry.consent_id, revision), set()).add(
                        (entry.kind, head if isinstance(head, str) else None))
            if len(page) < _PAGE:
                break
            offset += _PAGE
    return found


def check_consents(log: AuditLog, registry: ConsentService) -> ConsentCheckReport:
    """Compare every consent the log mentions with the database, and every consent in the database
    with the log (see the module docstring)."""
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
    _check_database_against_log(log, registry, report, known=set(newest))
    return report


def _check_database_against_log(log: AuditLog, registry: ConsentService, report: ConsentCheckReport, *,
                                known: set[str]) -> None:
    """Every revision of every consent in the database must be logged, with its hash (problems go to ``report``)."""
    logged = logged_revision_hashes(log)
    ids = registry.consent_ids()
    report.consents = len(known | set(ids))
    named = {cid for cid in known if any(f"consent {cid} " in problem for problem in report.problems)}
    for consent_id in ids:
        if consent_id in named:  # already reported from the log's side
            continue
        try:
            consent = registry.get(consent_id)
        except ConsentTamperedError as exc:
            if consent_id not in known:  # the log side names it when the log knows it
                report.problems.append(f"consent {consent_id} fails its own signature check ({exc}) and the audit "
                                       "log never recorded it")
            continue
        except UnknownConsentError:  # deleted since it was listed
            continue
        for revision in sorted(consent.history, key=lambda r: r.revision):
            kind = _REVISION_KINDS.get(str(revision.kind))
            seen = logged.get((consent_id, revision.revision), set())
            what = "its grant" if revision.revision == 1 else f"its revision {revision.revision} ({revision.kind})"
            if not seen:
                report.problems.append(f"consent {consent_id} is in the database but {what} is not in the audit "
                                       "log: it was not registered through a logged path (inserted into the "
                                       "database?); the gate refuses it")
                break
            if (kind, revision.content_hash) not in seen and all(head is not None for _, head in seen):
                report.problems.append(f"consent {consent_id}: {what} in the database is not the one the audit log "
                                       "recorded (its hash or kind differs)")
                break


__all__ = ["ConsentCheckReport", "check_consents", "grant_logged", "log_grant", "logged_revision_hashes",
           "logged_revisions"]
