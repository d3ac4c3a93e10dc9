"""Helpers for the audit tests: a clock the tests move, a log with entries, and SQL run around the triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from db_tamper import tamper_tables
from sqlalchemy.engine import Engine

from audit import AuditKind, AuditLog

START = datetime(2026, 11, 25, 9, 30, 0, 123456, tzinfo=UTC)


class Clock:
    """A clock that moves one millisecond each time it is read (so every entry has its own time)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def fill(log: AuditLog, count: int, *, start: int = 0) -> list[int]:
    """Append ``count`` varied entries (decisions, consent events, admin actions); their indices."""
    indices = []
    for n in range(start, start + count):
        if n % 3 == 0:
            entry = log.append(AuditKind.GENERATION_DECIDED, actor=f"partner:p{n % 4}", partner=f"p{n % 4}",
                               consent_id=f"cns_{n % 5}", generation_id=f"gen_{n:04d}",
                               data={"decision": "allow" if n % 2 else "deny", "reasons": [f"policy{n % 7}"],
                                     "policy_version": "2026.11.1", "key_id": f"k{n % 4}", "consent_revision": 1,
                                     "input_hashes": {"portrait_sha256": f"{n:064x}", "audio_sha256": f"{n + 1:064x}"},
                                     "match_score": round(0.5 + n / 1000, 4)})
        elif n % 3 == 1:
            entry = log.append(AuditKind.CONSENT_GRANTED, actor="subject", consent_id=f"cns_{n % 5}",
                               data={"revision": 1, "head_hash": f"{n:064x}"})
        else:
            entry = log.append(AuditKind.ADMIN_ACTION, actor="operator:ops", data={"action": "note", "n": n})
        indices.append(entry.index)
    return indices


def tamper(engine: Engine, sql: str, **params: object) -> int:
    """Run ``sql`` around the audit tables' append-only triggers (:func:`db_tamper.tamper_tables`)."""
    return tamper_tables(engine, sql, prefix="audit", **params)
