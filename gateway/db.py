"""Database engine and migrations.

SQLite (WAL) by default under the data dir; PostgreSQL when ``LIKENESS_DATABASE_URL`` says so.
A SQLite database file is created 0600 before SQLite opens it (its ``-wal`` and ``-shm`` files
take the database file's mode), and an existing one open to other users is set to 0600.
The schema is owned by Alembic (``gateway/migrations``); :func:`upgrade` brings a database to head.
The engine and the migration runner are the kernel's (:mod:`likeness.db`), so tests of lower packages need no gateway.

>>> from gateway.db import make_engine, upgrade
>>> engine = make_engine("sqlite://")
>>> upgrade(engine)
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Engine

from likeness import db
from likeness.db import make_engine, private_sqlite_file

MIGRATIONS = Path(__file__).parent / "migrations"

__all__ = ["MIGRATIONS", "alembic_config", "make_engine", "private_sqlite_file", "upgrade"]


def alembic_config(engine: Engine) -> Config:
    return db.alembic_config(engine, script_location=MIGRATIONS)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    db.upgrade(engine, script_location=MIGRATIONS, revision=revision)
