"""The proof-of-work a browser does before a registration starts: SHA-256 with N leading zero bits.

Starting a registration is free for a person and costs the server a database row; a script that
starts thousands of them should pay for each. The server issues a challenge it signed (HMAC-SHA256,
no state), ``v1.<nonce>.<bits>.<expires unix s>.<mac>``; the page's script (``portal.js``, with
``crypto.subtle``) finds a counter such that SHA-256(``<challenge>:<counter>``) starts with
``bits`` zero bits, and posts it with the start form. The server checks the signature, the expiry
and the work, then spends the nonce once (a row in ``consent_portal_pow``), so one solution
starts one registration.

>>> from datetime import UTC, datetime
>>> from sqlmodel import SQLModel, create_engine
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)
>>> work = ProofOfWork(engine, key=bytes(32), bits=8, clock=lambda: datetime(2026, 12, 7, tzinfo=UTC))
>>> challenge = work.issue()
>>> work.verify(challenge, solution=solve(challenge, bits=8))
>>> work.verify(challenge, solution=solve(challenge, bits=8))
Traceback (most recent call last):
...
consent.portal._pow.WorkRefused: this start form was already used: press Start again
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col

from consent.errors import ConsentStoreError
from consent.models import PortalWorkSpent

POW_BITS = 16  # ~65,000 SHA-256 on average: well under a second in a browser (docs/consent.md)
POW_TTL = timedelta(minutes=30)
_VERSION = "v1"
_MAX_COUNTER = 20  # digits


class WorkRefused(Exception):
    """A missing, forged, expired, replayed or insufficient proof-of-work: the status and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` starts with."""
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def solve(challenge: str, *, bits: int) -> str:
    """The first counter that solves ``challenge`` (what portal.js does; tests and scripts use this)."""
    prefix = challenge.encode() + b":"
    for counter in itertools.count():
        if leading_zero_bits(hashlib.sha256(prefix + str(counter).encode()).digest()) >= bits:
            return str(counter)
    raise AssertionError("unreachable")


class ProofOfWork:
    """Issues and verifies start challenges; spent nonces are kept (until they expire) in the portal's database."""

    def __init__(self, engine: Engine, *, key: bytes, bits: int = POW_BITS, ttl: timedelta = POW_TTL,
                 clock: Callable[[], datetime] | None = None) -> None:
        if len(key) < 16:
            raise ValueError("the proof-of-work key must have at least 16 bytes")
        if not 0 <= bits <= 32:
            raise ValueError("the proof-of-work difficulty must be 0 to 32 bits")
        self._engine = engine
        self._key = key
        self.bits = bits
        self.ttl = ttl
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"ProofOfWork(bits={self.bits}, ttl={self.ttl})"

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, b"likeness/portal-pow/v1\x00" + payload.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A fresh signed challenge at the configured difficulty."""
        expires = int((self._clock() + self.ttl).timestamp())
        payload = f"{_VERSION}.{secrets.token_hex(16)}.{self.bits}.{expires}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, challenge: object, *, solution: object) -> None:
        """Accept a solved challenge once; raise :class:`WorkRefused` (400 malformed, 403 otherwise)."""
        if not isinstance(challenge, str) or not isinstance(solution, str) or not challenge or not solution:
            raise WorkRefused(400, "your browser did not finish preparing the registration (it needs JavaScript): "
                                   "press Start again")
        parts = challenge.split(".")
        if (len(parts) != 5 or parts[0] != _VERSION or len(challenge) > 200 or not solution.isdigit()
                or len(solution) > _MAX_COUNTER or not parts[2].isdigit() or not parts[3].isdigit()):
            raise WorkRefused(400, "the start form was damaged: press Start again")
        payload, mac = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(self._mac(payload), mac):
            raise WorkRefused(403, "the start form did not come from this site: press Start again")
        nonce, bits, expires = parts[1], int(parts[2]), int(parts[3])
        if bits < self.bits:
            raise WorkRefused(403, "the start form is out of date: press Start again")
        moment = self._clock()
        if expires <= moment.timestamp():
            raise WorkRefused(403, "the start page was open too long: press Start again")
        digest = hashlib.sha256(challenge.encode() + b":" + solution.encode()).digest()
        if leading_zero_bits(digest) < bits:
            raise WorkRefused(403, "your browser's answer to the start check is wrong: press Start again")
        self._spend(nonce, expires_at=datetime.fromtimestamp(expires, UTC), now=moment)

    def _spend(self, nonce: str, *, expires_at: datetime, now: datetime) -> None:
        try:
            with Session(self._engine) as session:
                session.execute(delete(PortalWorkSpent).where(col(PortalWorkSpent.expires_at) <= now))
                session.add(PortalWorkSpent(nonce=nonce, expires_at=expires_at))
                try:
                    session.commit()
                except IntegrityError:
                    raise WorkRefused(403, "this start form was already used: press Start again") from None
        except SQLAlchemyError as exc:
            raise ConsentStoreError(f"the consent portal's store is unavailable: {type(exc).__name__}") from exc


__all__ = ["POW_BITS", "POW_TTL", "ProofOfWork", "WorkRefused", "leading_zero_bits", "solve"]
