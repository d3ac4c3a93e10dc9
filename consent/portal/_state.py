"""Server-side state of the portal: registrations in progress (drafts) and management sessions.

A row is found by the SHA-256 of a random secret that only the person's cookie holds
(``<row id>.<secret>``), and what it holds of value is sealed (AES-256-GCM) under a key derived
from that secret: the reference embeddings of a draft, the management token of a session. A
copy of the database opens neither. Drafts live :data:`DRAFT_TTL` from their start, sessions
:data:`SESSION_TTL`; expired rows are purged whenever a new one is made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from consent._crypto import SealError, open_sealed, seal
from consent._cues import Cue, cue_key
from consent.errors import ConsentStoreError
from consent.models import PortalDraft, PortalSession
from consent.statement import Challenge
from faces import Embedding
from likeness.db import store_session

logger = logging.getLogger(__name__)

DRAFT_TTL = timedelta(minutes=60)  # the whole registration; the passcode itself lasts 30 minutes
SESSION_TTL = timedelta(minutes=15)
_ID_CHARS = 32


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(b"likeness/portal-cookie/v1\x00" + secret.encode()).hexdigest()


def _secret_key(secret: str) -> bytes:
    return hashlib.sha256(b"likeness/portal-key/v1\x00" + secret.encode()).digest()


_Row = TypeVar("_Row", PortalDraft, PortalSession)
_COOKIE_PREFIX = {PortalDraft: "drf", PortalSession: "mgs"}


def _new_id(table: type[PortalDraft | PortalSession]) -> str:
    return f"{_COOKIE_PREFIX[table]}_{secrets.token_hex(_ID_CHARS // 2)}"


def _split(cookie: str | None, prefix: str) -> tuple[str, str] | None:
    if not cookie or len(cookie) > 200 or "." not in cookie:
        return None
    row_id, secret = cookie.split(".", 1)
    if not row_id.startswith(prefix + "_") or len(row_id) != len(prefix) + 1 + _ID_CHARS or len(secret) < 32:
        return None
    return row_id, secret


@dataclass
class Draft:
    """A draft as the routes use it: the row, and the key its cookie unlocks."""

    row: PortalDraft
    key: bytes

    @property
    def id(self) -> str:
        return self.row.id

    def references(self) -> list[Embedding]:
        if self.row.references is None:
            return []
        try:
            plain = open_sealed(self.key, blob=bytes(self.row.references), aad=_draft_aad(self.row.id))
        except SealError:
            return []

        items = json.loads(plain)
        return [Embedding(np.frombuffer(base64.b64decode(item["vector"]), dtype="<f4"), backend=item["backend"],
                          model_version=item["model_version"]) for item in items]

    def challenge(self) -> Challenge | None:
        data = self.row.challenge
        if not data:
            return None
        return Challenge(id=data["id"], phrase=data["phrase"], statement_text=data["statement_text"],
                         issued_at=datetime.fromisoformat(data["issued_at"]),
                         expires_at=datetime.fromisoformat(data["expires_at"]), phrase_sha256=data["phrase_sha256"],
                         cues=tuple(Cue.from_json(c) for c in data.get("cues", [])))

    def cue_key(self) -> bytes:
        """The HMAC key of this draft's cue tokens (derived from the draft's key: any replica can check it)."""
        return cue_key(self.key)


def _draft_aad(draft_id: str) -> bytes:
    return f"likeness/portal-draft-references/v1|{draft_id}".encode()


def _session_aad(session_id: str, consent_id: str) -> bytes:
    return f"likeness/portal-session-token/v1|{session_id}|{consent_id}".encode()


def seal_references(draft: Draft, embeddings: Sequence[Embedding]) -> bytes:
    items = [{"vector": base64.b64encode(np.asarray(e.vector, dtype="<f4").tobytes()).decode(), "backend": e.backend,
              "model_version": e.model_version} for e in embeddings]
    return seal(draft.key, plaintext=json.dumps(items).encode(), aad=_draft_aad(draft.id))


def challenge_json(challenge: Challenge) -> dict[str, Any]:
    return {"id": challenge.id, "phrase": challenge.phrase, "statement_text": challenge.statement_text,
            "issued_at": challenge.issued_at.isoformat(), "expires_at": challenge.expires_at.isoformat(),
            "phrase_sha256": challenge.phrase_sha256, "cues": [c.as_json() for c in challenge.cues]}


class PortalState:
    """Drafts and sessions over one engine (migrated to head), with the portal's clock."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=ConsentStoreError, what="the consent portal's store")

    def purge(self) -> int:
        """Delete every expired draft and session; how many rows went."""
        now = self._clock()
        with self._session() as session:
            gone = session.exec(delete(PortalDraft).where(col(PortalDraft.expires_at) <= now)).rowcount
            gone += session.exec(delete(PortalSession).where(col(PortalSession.expires_at) <= now)).rowcount
            session.commit()
        return int(gone or 0)

    # ------------------------------------------------------------------------------ drafts

    def new_draft(self) -> tuple[Draft, str]:
        """A fresh draft and the cookie value that opens it."""
        self.purge()
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        row = PortalDraft(id=_new_id(PortalDraft), secret_hash=_secret_hash(secret), created_at=now,
                          expires_at=now + DRAFT_TTL)
        with self._session() as session:
            session.add(row)
            session.commit()
        return Draft(row, _secret_key(secret)), f"{row.id}.{secret}"

    def _opened(self, cookie: str | None, table: type[_Row], *, end: Callable[[str], None]) -> tuple[_Row, str] | None:
        """The live row of ``table`` the cookie names, and the cookie's secret; None for no cookie, an unknown
        row or a wrong secret, and for an expired row, which ``end`` deletes."""
        parts = _split(cookie, _COOKIE_PREFIX[table])
        if parts is None:
            return None
        row_id, secret = parts
        with self._session() as session:
            row = session.get(table, row_id)
        if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
            return None
        if row.expires_at <= self._clock():
            end(row.id)
            return None
        return row, secret

    def draft(self, cookie: str | None) -> Draft | None:
        """The live draft the cookie opens, or None (no cookie, unknown, wrong secret, expired)."""
        found = self._opened(cookie, PortalDraft, end=self.delete_draft)
        if found is None:
            return None
        row, secret = found
        return Draft(row, _secret_key(secret))

    def save_draft(self, draft: Draft, **changes: Any) -> None:
        """Apply ``changes`` to the draft's row in one transaction."""
        with self._session() as session:
            row = session.get(PortalDraft, draft.id)
            if row is None:
                raise ConsentStoreError("this registration is no longer stored: start again")
            for name, value in changes.items():
                setattr(row, name, value)
            session.add(row)
            session.commit()
            draft.row = row

    def forget(self, cookie: str | None) -> None:
        """Delete the draft or the management session the cookie opens; a cookie that opens none changes nothing."""
        draft = self._opened(cookie, PortalDraft, end=self.delete_draft)
        if draft is not None:
            self.delete_draft(draft[0].id)
        session = self._opened(cookie, PortalSession, end=self.end_session)
        if session is not None:
            self.end_session(session[0].id)

    def delete_draft(self, draft_id: str) -> None:
        with self._session() as session:
            session.execute(delete(PortalDraft).where(col(PortalDraft.id) == draft_id))
            session.commit()

    # ------------------------------------------------------------------------------ sessions

    def new_session(self, consent_id: str, *, token: str) -> str:
        """A management session for ``consent_id``; the cookie value that opens it."""
        self.purge()
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        session_id = _new_id(PortalSession)
        row = PortalSession(id=session_id, secret_hash=_secret_hash(secret), consent_id=consent_id,
                            sealed_token=seal(_secret_key(secret), plaintext=token.encode(),
                                              aad=_session_aad(session_id, consent_id)),
                            created_at=now, expires_at=now + SESSION_TTL)
        with self._session() as session:
            session.add(row)
            session.commit()
        return f"{session_id}.{secret}"

    def signed_in(self, cookie: str | None) -> tuple[str, str, str] | None:
        """(session id, consent id, management token) for a live session cookie, or None."""
        found = self._opened(cookie, PortalSession, end=self.end_session)
        if found is None:
            return None
        row, secret = found
        try:
            token = open_sealed(_secret_key(secret), blob=bytes(row.sealed_token),
                                aad=_session_aad(row.id, row.consent_id)).decode()
        except SealError:
            return None
        return row.id, row.consent_id, token

    def end_session(self, session_id: str) -> None:
        with self._session() as session:
            session.execute(delete(PortalSession).where(col(PortalSession.id) == session_id))
            session.commit()
