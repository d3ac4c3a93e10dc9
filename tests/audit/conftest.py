"""Fixtures for the audit tests: a real key on disk, a real migrated database (SQLite; PostgreSQL in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_factories import Clock
from sqlalchemy.engine import Engine

from audit import AuditKey, AuditLog, init_audit_key


@pytest.fixture
def audit_key(tmp_path: Path) -> AuditKey:
    return AuditKey.from_file(init_audit_key(tmp_path / "var" / "keys" / "audit-signing.key"))


@pytest.fixture
def log(engine: Engine, audit_key: AuditKey) -> AuditLog:
    return AuditLog(engine, signing_key=audit_key, clock=Clock())
