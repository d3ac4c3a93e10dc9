"""A consent rolled back in the database (a revocation deleted, the older signed head restored from a backup)
passes its own signature checks — and contradicts the audit log, which `likeness audit check-consents` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from consent_factories import scope, tamper
from sqlalchemy import text

from audit import AuditKey, AuditKind, AuditLog
from consent import ConsentService
from generations import check_consents

LIKENESS = str(Path(sys.executable).with_name("likeness"))


def _logged(log: AuditLog, kind: AuditKind, consent) -> None:
    """What the portal's event hook logs (gateway/app.py): ids, revision and head hash."""
    log.append(kind, actor="subject", consent_id=consent.id, data={"revision": consent.revision,
                                                                    "head_hash": consent.head_hash})


def _head_row(engine, consent_id: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT current_revision, head_hash, head_signature FROM consents WHERE id = :id"),
                           {"id": consent_id}).mappings().one()
    return dict(row)


def _roll_back(engine, consent_id: str, head: dict) -> None:
    """The attack: delete the newer revisions and put the older signed head back."""
    tamper(engine, "DELETE FROM consent_revisions WHERE consent_id = :id AND revision > :rev", id=consent_id,
           rev=head["current_revision"])
    tamper(engine, "UPDATE consents SET current_revision = :rev, head_hash = :hash, head_signature = :sig "
                   "WHERE id = :id", id=consent_id, rev=head["current_revision"], hash=head["head_hash"],
           sig=head["head_signature"])


def test_a_rolled_back_revocation_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, token = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, consent)
    other, _ = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, other)
    before = _head_row(engine, consent.id)
    revoked = registry.revoke(consent.id, token=token, reason="I changed my mind")
    _logged(log, AuditKind.CONSENT_REVOKED, revoked)
    assert check_consents(log, registry).ok

    _roll_back(engine, consent.id, before)
    restored = registry.get(consent.id)  # every remaining signature verifies: the registry alone cannot tell
    assert restored.status == "active" and restored.revision == 1

    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1
    assert consent.id in report.problems[0] and "rollback" in report.problems[0]
    assert "revision 2" in report.problems[0] and "audit entry 2" in report.problems[0]


def test_a_deleted_consent_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, _ = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, consent)
    for table in ("consent_evidence", "consent_generations", "consent_revisions"):
        tamper(engine, f"DELETE FROM {table} WHERE consent_id = :id", id=consent.id)
    tamper(engine, "DELETE FROM consents WHERE id = :id", id=consent.id)
    report = check_consents(log, registry)
    assert not report.ok and "missing from the database" in report.problems[0]


def test_a_consent_whose_grant_was_never_logged_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    logged, _ = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, logged)
    assert check_consents(log, registry).ok
    sneaked, _ = registry.register(scope())  # in the database, signed, but its grant never reached the log
    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1 and report.consents == 2
    assert sneaked.id in report.problems[0] and "its grant is not in the audit log" in report.problems[0]


def test_a_revision_missing_from_the_log_is_named(engine, registry: ConsentService):
    log = AuditLog(engine, signing_key=AuditKey.generate())
    consent, token = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, consent)
    registry.revoke(consent.id, token=token, reason="revoked where nothing was logged")
    report = check_consents(log, registry)
    assert not report.ok and len(report.problems) == 1
    assert consent.id in report.problems[0] and "revision 2 (revoked)" in report.problems[0]


def test_the_cli_exits_1_with_one_line(tmp_path):
    data_dir = tmp_path / "var"
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    env.pop("LIKENESS_DATABASE_URL", None)
    assert subprocess.run([LIKENESS, "keys", "init"], env=env, capture_output=True, timeout=120).returncode == 0
    from gateway.deps import consent_keys, open_engine
    from gateway.settings import Settings

    settings = Settings.for_tests(data_dir)
    engine = open_engine(settings)
    registry = ConsentService(engine, keys=consent_keys(settings))
    log = AuditLog(engine, signing_key=AuditKey.from_file(settings.resolved_audit_signing_key_file))
    consent, token = registry.register(scope())
    _logged(log, AuditKind.CONSENT_GRANTED, consent)
    before = _head_row(engine, consent.id)
    _logged(log, AuditKind.CONSENT_REVOKED, registry.revoke(consent.id, token=token, reason="no"))

    fine = subprocess.run([LIKENESS, "audit", "check-consents"], env=env, capture_output=True, text=True, timeout=120)
    assert fine.returncode == 0 and "consistent" in fine.stdout, fine.stderr
    _roll_back(engine, consent.id, before)
    engine.dispose()
    bad = subprocess.run([LIKENESS, "audit", "check-consents"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and consent.id in lines[0] and "rollback" in lines[0]

    engine = open_engine(settings)
    sneaked, _ = ConsentService(engine, keys=consent_keys(settings)).register(scope())  # never logged
    engine.dispose()
    both = subprocess.run([LIKENESS, "audit", "check-consents", "--json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert both.returncode == 1
    problems = json.loads(both.stdout)["problems"]
    assert len(problems) == 2 and "rollback" in problems[0] and sneaked.id in problems[1]
