"""Database helpers shared by every package that keeps rows: one engine factory, one store session.

A store session opens a SQLModel ``Session`` on an engine and translates SQLAlchemy's errors at the
boundary into the owning package's error (``error`` builds it from a message), so a caller sees a
``LikenessError`` that says which store failed, never a driver exception.

>>> from sqlalchemy import text
>>> from likeness import LikenessError
>>> from likeness.db import make_engine, store_session
>>> engine = make_engine("sqlite://")
>>> with store_session(engine, error=LikenessError, what="the example store") as session:
...     session.execute(text("SELECT 1")).scalar()
1
>>> try:
...     with store_session(engine, error=LikenessError, what="the example store") as session:
...         session.execute(text("SELECT * FROM missing"))
... except LikenessError as exc:
...     print(exc)
the example store is unavailable: OperationalError
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from likeness import LikenessError, files
from likeness import errors as kinds


class DatabaseError(kinds.StoreUnavailableError):
    """The database could not be opened or created."""


@contextmanager
def store_session(engine: Engine, *, error: Callable[[str], LikenessError], what: str,
                  conflict: Callable[[str], LikenessError] | None = None,
                  expire_on_commit: bool = False) -> Iterator[Session]:
    """A session on ``engine``; a SQLAlchemy error leaves as ``error("<what> is unavailable: <kind>")``.

    With ``conflict``, an ``IntegrityError`` (a concurrent writer won) leaves as ``conflict(...)``
    asking the caller to retry instead.
    """
    try:
        with Session(engine, expire_on_commit=expire_on_commit) as session:
            yield session
    except IntegrityError as exc:
        if conflict is None:
            raise error(f"{what} is unavailable: {type(exc).__name__}") from exc
        raise conflict(f"{what} changed while this request was changing it; try again") from exc
    except SQLAlchemyError as exc:
        raise error(f"{what} is unavailable: {type(exc).__name__}") from exc


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout (its file created 0600)."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            private_sqlite_file(Path(url.removeprefix("sqlite:///")))
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot open database {redact(url)}: {exc}") from exc
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


def alembic_config(engine: Engine, *, script_location: Path) -> Config:
    """An Alembic configuration running the migrations in ``script_location`` against ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, *, script_location: Path, revision: str = "head") -> None:
    """Apply every migration in ``script_location`` up to ``revision``."""
    try:
        command.upgrade(alembic_config(engine, script_location=script_location), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database migration failed: {type(exc).__name__}: {exc}") from exc


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
