"""A consent rolled back in the database (a revocation deleted, the older signed head restored from a backup)
passes its own signature checks — and contradicts the audit log (`likeness audit check-consents`:
tests/gateway/test_consent_rollback_cli.py)."""

from __future__ import annotations

from consent_factories import head_row, logged, roll_back, scope, tamper

from audit import AuditKey, AuditKind, AuditLog
from consent import ConsentService
from generations import check_consents


def test_a_rolled_back_revocation_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, token = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, consent)
    other, _ = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, other)
    before = head_row(engine, consent.id)
    revoked = registry.revoke(consent.id, token=token, reason="I changed my mind")
    logged(log, AuditKind.CONSENT_REVOKED, revoked)
    assert check_consents(log, registry).ok

    roll_back(engine, consent.id, before)
    restored = registry.get(consent.id)  # every remaining signature verifies: the registry alone cannot tell
    assert restored.status == "active" and restored.revision == 1

    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1
    assert consent.id in report.problems[0] and "rollback" in report.problems[0]
    assert "revision 2" in report.problems[0] and "audit entry 2" in report.problems[0]


def test_a_deleted_consent_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, _ = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, consent)
    for table in ("consent_evidence", "consent_generations", "consent_revisions"):
        tamper(engine, f"DELETE FROM {table} WHERE consent_id = :id", id=consent.id)
    tamper(engine, "DELETE FROM consents WHERE id = :id", id=consent.id)
    report = check_consents(log, registry)
    assert not report.ok and "missing from the database" in report.problems[0]


def test_a_consent_whose_grant_was_never_logged_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    granted, _ = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, granted)
    assert check_consents(log, registry).ok
    sneaked, _ = registry.register(scope())  # in the database, signed, but its grant never reached the log
    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1 and report.consents == 2
    assert sneaked.id in report.problems[0] and "its grant is not in the audit log" in report.problems[0]


def test_a_revision_missing_from_the_log_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, token = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, consent)
    registry.revoke(consent.id, token=token, reason="revoked where nothing was logged")
    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1
    assert consent.id in report.problems[0] and "revision 2 (revoked)" in report.problems[0]
