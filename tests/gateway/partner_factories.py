"""Helpers for the partner tests: a clock that moves when told, the partner service on it (fixtures that
tests/partners and tests/gateway name in their conftest.py), and a scan of every stored byte."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from partners import PartnerService

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, clock: Clock) -> PartnerService:
    """The partner service on a migrated database, on ``clock``."""
    return PartnerService(engine, clock=clock)


def stored_text(engine: Engine) -> str:
    """Every value in every table of the database, as text (to look for secrets in it)."""
    parts = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(repr(value) for value in row)
    return "\n".join(parts)


def database_files(engine: Engine) -> list[Path]:
    """The SQLite file and its WAL, if the engine is SQLite on a file."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return []
    base = Path(engine.url.database)
    return [p for p in (base, base.with_name(base.name + "-wal")) if p.exists()]
