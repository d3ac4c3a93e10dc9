"""Fixtures for the consent tests: real keys on disk, a real migrated database (SQLite; PostgreSQL in CI),
a clock the tests move, and real face embeddings from the dlib backend where a test scores a portrait.
The portal's server in a thread is tests/gateway's (``live_server``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from consent import ConsentKeys, ConsentService, init_consent_keys

sys.path.append(str(Path(__file__).resolve().parents[1] / "gateway"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC))


@pytest.fixture
def keys_paths(tmp_path: Path):
    return init_consent_keys(tmp_path / "var" / "keys")


@pytest.fixture
def consent_keys(keys_paths) -> ConsentKeys:
    return ConsentKeys.from_files(signing_key_file=keys_paths.signing_key, master_key_file=keys_paths.master_key)


@pytest.fixture
def registry(engine: Engine, consent_keys: ConsentKeys, clock: Clock) -> ConsentService:
    return ConsentService(engine, keys=consent_keys, clock=clock)
