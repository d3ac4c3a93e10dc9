"""`likeness audit check-consents` names a consent rolled back in the database (the attack itself and the
checks below the CLI: tests/consent/test_consent_rollback.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "consent"))

from consent_factories import head_row, logged, roll_back, scope

from audit import AuditKey, AuditKind, AuditLog
from consent import ConsentService
from gateway.deps import consent_keys, open_engine
from gateway.settings import Settings

LIKENESS = str(Path(sys.executable).with_name("likeness"))


def test_the_cli_exits_1_with_one_line(tmp_path):
    data_dir = tmp_path / "var"
    env = {**os.environ, "LIKENESS_DATA_DIR": str(data_dir)}
    env.pop("LIKENESS_DATABASE_URL", None)
    assert subprocess.run([LIKENESS, "keys", "init"], env=env, capture_output=True, timeout=120).returncode == 0

    settings = Settings.for_tests(data_dir)
    engine = open_engine(settings)
    registry = ConsentService(engine, keys=consent_keys(settings))
    log = AuditLog(engine, signing_key=AuditKey.from_file(settings.resolved_audit_signing_key_file))
    consent, token = registry.register(scope())
    logged(log, AuditKind.CONSENT_GRANTED, consent)
    before = head_row(engine, consent.id)
    logged(log, AuditKind.CONSENT_REVOKED, registry.revoke(consent.id, token=token, reason="no"))

    fine = subprocess.run([LIKENESS, "audit", "check-consents"], env=env, capture_output=True, text=True, timeout=120)
    assert fine.returncode == 0 and "consistent" in fine.stdout, fine.stderr
    roll_back(engine, consent.id, before)
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
