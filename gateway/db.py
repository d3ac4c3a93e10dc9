"""Database engine and migrations.

SQLite (WAL) by default under the data dir; PostgreSQL when ``LIKENESS_DATABASE_URL`` says so.
A SQLite database file is created 0600 before SQLite opens it (its ``-wal`` and ``-shm`` files
take the database file's mode), and an existing one open to other users is set to 0600.
The schema is owned by Alembic (``gateway/migrations``); :func:`upgrade` brings a database to head.

>>> from gateway.db import make_engine, upgrade
>>> engine = make_engine("sqlite://")
>>> upgrade(engine)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from gateway.errors import DatabaseError
from likeness import files

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = Path(url.removeprefix("sqlite:///"))
            private_sqlite_file(path)
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot open database {_redact(url)}: {exc}") from exc
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def private_sqlite_file(path: Path) -> None:
    """The database at ``path`` and its WAL and shared-memory files readable by their owner only
    (:func:`likeness.files.private_sqlite_file`), as a :class:`DatabaseError` when that fails."""
    try:
        files.private_sqlite_file(path)
    except OSError as exc:
        raise DatabaseError(f"cannot create the database file {path}: {exc.strerror or exc}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database migration failed: {type(exc).__name__}: {exc}") from exc
