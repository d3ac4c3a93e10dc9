"""Factories for the consent tests (a module of its own: `conftest` is not importable by name
when several test folders have one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from db_tamper import tamper_tables
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from audit import AuditKind, AuditLog
from consent import ConsentPublic, ConsentScope
from faces import Embedding


def random_embedding(seed: int, *, dim: int = 128, model_version: str = "test-model:0123456789ab") -> Embedding:
    """An L2-normalised float32 vector standing for one reference face (the registry never looks inside)."""
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return Embedding(vector, backend="test", model_version=model_version)


def scope(**overrides: object) -> ConsentScope:
    """A typical scope: two partners, education and accessibility, never political; open-ended."""
    fields: dict[str, object] = {
        "partners": ["acme", "globex"],
        "purposes": ["education", "accessibility"],
        "prohibited_purposes": ["political"],
    }
    fields.update(overrides)
    return ConsentScope(**fields)


def tamper(engine: Engine, sql: str, **params: object) -> int:
    """Run ``sql`` around the consent tables' append-only triggers (:func:`db_tamper.tamper_tables`)."""
    return tamper_tables(engine, sql, prefix="consent", **params)


def sqlite_files(engine: Engine) -> bytes:
    """The raw bytes an attacker copying a SQLite database gets: the file, its WAL and shared memory."""
    database = Path(str(engine.url.database))
    parts = [database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")]
    return b"".join(part.read_bytes() for part in parts if part.exists())


def all_rows_bytes(engine: Engine) -> bytes:
    """Every value of every table, as bytes (for PostgreSQL, whose files a test cannot read)."""
    chunks: list[bytes] = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def logged(log: AuditLog, kind: AuditKind, consent: ConsentPublic) -> None:
    """What the portal's event hook logs (gateway/app.py): ids, revision and head hash."""
    log.append(kind, actor="subject", consent_id=consent.id, data={"revision": consent.revision,
                                                                    "head_hash": consent.head_hash})


def head_row(engine: Engine, consent_id: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT current_revision, head_hash, head_signature FROM consents WHERE id = :id"),
                           {"id": consent_id}).mappings().one()
    return dict(row)


def roll_back(engine: Engine, consent_id: str, head: dict[str, object]) -> None:
    """The attack: delete the newer revisions and put the older signed head back."""
    tamper(engine, "DELETE FROM consent_revisions WHERE consent_id = :id AND revision > :rev", id=consent_id,
           rev=head["current_revision"])
    tamper(engine, "UPDATE consents SET current_revision = :rev, head_hash = :hash, head_signature = :sig "
                   "WHERE id = :id", id=consent_id, rev=head["current_revision"], hash=head["head_hash"],
           sig=head["head_signature"])
