"""Live sessions' records: the session token, and a stream's state from opening to close (docs/sessions.md).

A session is opened by the gate (:meth:`generations.gate.Gate.open_session`: the job's checks,
then a ``generation_jobs`` row of kind ``live``, running at once and never queued) and a row
here. Its **token** is shown once; only its SHA-256 is kept. :meth:`SessionStore.connect` spends
it: one conditional UPDATE moves the session from ``open`` to ``streaming`` only if the token's
hash matches, it has not expired and nobody connected before, so two connections racing with the
same token cannot both stream.

>>> from datetime import datetime, timedelta
>>> from sqlmodel import SQLModel, create_engine
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)
>>> now = datetime(2026, 12, 8, 12, tzinfo=UTC)
>>> store = SessionStore(engine, clock=lambda: now)
>>> token = new_session_token()
>>> token.startswith(TOKEN_PREFIX), len(token)
(True, 47)
>>> row = store.create(SessionCreate(id="gen_00000000000000aa", partner_id="ptn_1", token=token, ttl_s=120,
...                                  max_seconds=600, segment_seconds=0.5))
>>> store.connect("gen_00000000000000aa", token=token, server="s1").state
'streaming'
>>> store.connect("gen_00000000000000aa", token=token, server="s2")
Traceback (most recent call last):
...
generations.errors.Refusal: this session's token was already used: a session streams once
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from generations.errors import JobStoreError, Refusal
from generations.models import LiveSessionRow, SessionState, _now
from likeness.db import store_session

TOKEN_PREFIX = "lks_"  # noqa: S105 (a prefix that names the kind of secret, not a secret)


def new_session_token() -> str:
    """A session token: ``lks_`` + 43 URL-safe characters (256 bits), usable as a WebSocket subprotocol."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionCreate:
    id: str
    partner_id: str
    token: str
    ttl_s: float
    max_seconds: float
    segment_seconds: float


@dataclass(frozen=True)
class SessionClose:
    """What a session leaves at its close."""

    reason: str
    segments: int
    frames: int
    audio_seconds: float
    chain_head: str | None


class SessionStore:
    """Reads and moves ``live_sessions`` rows; each transition is one short transaction."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=JobStoreError, what="the live sessions table")

    def create(self, session: SessionCreate) -> LiveSessionRow:
        now = self._clock()
        row = LiveSessionRow(id=session.id, partner_id=session.partner_id, token_sha256=token_sha256(session.token),
                             token_expires_at=now + timedelta(seconds=session.ttl_s), state=SessionState.OPEN,
                             max_seconds=session.max_seconds, segment_seconds=session.segment_seconds,
                             created_at=now)
        with self._session() as db:
            db.add(row)
            db.commit()
            db.refresh(row)
        return row

    def get(self, session_id: str) -> LiveSessionRow | None:
        with self._session() as db:
            return db.get(LiveSessionRow, session_id)

    def get_for(self, session_id: str, *, partner_id: str) -> LiveSessionRow | None:
        """The session only if it is ``partner_id``'s (another partner's reads as absent)."""
        row = self.get(session_id)
        return row if row is not None and row.partner_id == partner_id else None

    def connect(self, session_id: str, *, token: str, server: str) -> LiveSessionRow:
        """Spend the token: ``open`` → ``streaming``, or the :class:`Refusal` that says why not."""
        now = self._clock()
        digest = token_sha256(token)
        with self._session() as db:
            result = db.exec(update(LiveSessionRow).where(
                col(LiveSessionRow.id) == session_id, col(LiveSessionRow.token_sha256) == digest,
                col(LiveSessionRow.state) == SessionState.OPEN, col(LiveSessionRow.token_expires_at) > now,
            ).values(state=SessionState.STREAMING, started_at=now, server=server[:80]))
            db.commit()
            row = db.get(LiveSessionRow, session_id, populate_existing=True)
        if result.rowcount == 1 and row is not None:
            return row
        # why not: answered without saying whether a session exists to a caller without its token
        if row is None or not hmac.compare_digest(row.token_sha256, digest):
            raise Refusal("the session token is not valid for this session", status=401, code="unauthenticated")
        if row.state != SessionState.OPEN:
            raise Refusal("this session's token was already used: a session streams once", status=409,
                          code="session_not_open")
        raise Refusal("the session token has expired: open a new session", status=401, code="token_expired")

    def close(self, session_id: str, *, outcome: SessionClose) -> bool:
        """Record the close (once); False if it was closed already (e.g. by recovery)."""
        now = self._clock()
        with self._session() as db:
            result = db.exec(update(LiveSessionRow).where(
                col(LiveSessionRow.id) == session_id, col(LiveSessionRow.state) != SessionState.CLOSED,
            ).values(state=SessionState.CLOSED, closed_at=now, end_reason=outcome.reason[:40],
                     segments=outcome.segments, frames=outcome.frames,
                     audio_seconds=round(outcome.audio_seconds, 3), chain_head=outcome.chain_head))
            db.commit()
            return bool(result.rowcount == 1)


__all__ = ["TOKEN_PREFIX", "SessionClose", "SessionCreate", "SessionStore", "new_session_token", "token_sha256"]
