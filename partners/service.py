"""Partners, their API keys and the operators' admin tokens: issued once, stored hashed, scoped, revocable.

Azure's Limited Access is the model: a partner is vetted for declared use cases and can be
suspended; its keys authenticate ``/v1`` requests. A key reads ``lk_live_<key id>_<secret>``
(10 + 43 base62 characters, 256 random bits of secret); the part before the second ``_`` is
its *prefix*, safe to show and log, and only a domain-tagged SHA-256 of the whole key is kept.
Admin tokens (``lka_…``) are a separate table and never authenticate as a partner, nor a
partner key as an admin; every admin token expires (default :data:`ADMIN_TOKEN_TTL`). An admin
signs in to the ``/admin`` pages once with the token and gets a server-side session
(:meth:`PartnerService.start_admin_session`): the cookie holds only a random 256-bit session id
(``las_…``), the database only its hash, and the session ends at logout, after an idle timeout,
at its absolute lifetime, or when its token is revoked or expires.

>>> from sqlmodel import SQLModel, create_engine
>>> from partners import PartnerService
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> service = PartnerService(engine)
>>> partner, issued = service.add("acme", use_cases=["education"])     # the key is shown once
>>> issued
IssuedKey(key_id='key_...', prefix='lk_live_...', partner_id='ptn_...', plaintext=<hidden>)
>>> who = service.authenticate(issued.plaintext)
>>> who.partner.name, who.key_id == issued.key_id, who.has("generations:write")
('acme', True, True)
>>> service.suspend("acme", reason="misuse reported").status
'suspended'
>>> service.authenticate(issued.plaintext)
Traceback (most recent call last):
...
partners.errors.PartnerSuspendedError: partner acme is suspended: misuse reported
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from likeness.db import store_session
from partners.errors import (
    AuthenticationError,
    ExpiredKeyError,
    PartnerExistsError,
    PartnerInputError,
    PartnerStoreError,
    PartnerSuspendedError,
    RevokedKeyError,
    UnknownKeyError,
    UnknownPartnerError,
)
from partners.models import AdminSession, AdminToken, ApiKey, Partner
from partners.schemas import AdminPublic, ApiKeyPublic, AuthenticatedPartner, IssuedKey, PartnerPublic

logger = logging.getLogger(__name__)

SCOPES = ("generations:write", "generations:read", "consents:check")
KEY_SCHEME = "lk_live_"
ADMIN_SCHEME = "lka_"
SESSION_SCHEME = "las_"
ADMIN_TOKEN_TTL = timedelta(days=90)
MAX_ADMIN_TOKEN_TTL = timedelta(days=366)
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = 10
_SECRET_CHARS = 43  # 43 base62 characters carry 256 bits
_KEY = re.compile(rf"^{KEY_SCHEME}([0-9A-Za-z]{{{_ID_CHARS}}})_([0-9A-Za-z]{{{_SECRET_CHARS}}})$")
_ADMIN = re.compile(rf"^{ADMIN_SCHEME}([0-9A-Za-z]{{{_ID_CHARS}}})_([0-9A-Za-z]{{{_SECRET_CHARS}}})$")
_SESSION = re.compile(rf"^{SESSION_SCHEME}[0-9A-Za-z_-]{{43}}$")  # secrets.token_urlsafe(32): 256 bits
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # the consent registry's purpose names
_RESERVED_NAMES = {"any_vetted", "any"}
_LAST_USED_EVERY = timedelta(minutes=1)
DEFAULT_QUOTA = 1000
DEFAULT_QUOTA_PERIOD_DAYS = 30
DEFAULT_RATE_PER_MINUTE = 60


# --- secrets --------------------------------------------------------------------------------

def _random(chars: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(chars))


def _hash(secret: object, *, tag: bytes) -> str:
    raw = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else b"\x00not-a-key"
    return hashlib.sha256(b"likeness/" + tag + b"/v1\x00" + raw).hexdigest()


def hash_api_key(key: object) -> str:
    """The stored form of a partner key: SHA-256 with a domain tag (keys carry 256 random bits)."""
    return _hash(key, tag=b"api-key")


def hash_admin_token(token: object) -> str:
    return _hash(token, tag=b"admin-token")


def hash_admin_session(session_id: object) -> str:
    """The stored form of an admin session id (the cookie's value)."""
    return _hash(session_id, tag=b"admin-session")


_UNMATCHABLE_KEY = hash_api_key("likeness: no such key")
_UNMATCHABLE_ADMIN = hash_admin_token("likeness: no such admin token")


def key_prefix(key: object) -> str | None:
    """``lk_live_<key id>`` of a well-formed partner key, else None (never echoes a secret)."""
    match = _KEY.match(key) if isinstance(key, str) else None
    return f"{KEY_SCHEME}{match.group(1)}" if match else None


# --- the service ----------------------------------------------------------------------------

class PartnerService:
    """Partners, API keys and admin tokens on one database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return "PartnerService()"

    # partners

    def add(
        self,
        name: str,
        *,
        use_cases: Sequence[str],
        quota: int = DEFAULT_QUOTA,
        quota_period_days: int = DEFAULT_QUOTA_PERIOD_DAYS,
        rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
        scopes: Iterable[str] = SCOPES,
        key_expires_at: datetime | None = None,
    ) -> tuple[PartnerPublic, IssuedKey]:
        """Register a partner and issue its first API key (returned once; only its hash is kept)."""
        clean_name = _partner_name(name)
        cases = _use_cases(use_cases)
        _positive("quota", quota, minimum=0)
        _positive("quota_period_days", quota_period_days, minimum=1)
        _positive("rate_per_minute", rate_per_minute, minimum=1)
        clean_scopes = _scopes(scopes)
        now = self._clock()
        _aware(key_expires_at, now=now)
        with self._session() as session:
            if session.exec(select(Partner).where(Partner.name == clean_name)).first() is not None:
                raise PartnerExistsError(f"a partner named {clean_name} already exists")
            partner = Partner(id=f"ptn_{secrets.token_hex(8)}", name=clean_name, use_cases=cases, quota=quota,
                              quota_period_days=quota_period_days, rate_per_minute=rate_per_minute, created_at=now)
            session.add(partner)
            session.flush()
            issued = self._issue(session, partner.id, clean_scopes, now=now, expires_at=key_expires_at)
            try:
                session.commit()
            except IntegrityError:
                raise PartnerExistsError(f"a partner named {clean_name} already exists") from None
            logger.info("partner %s added (%s), key %s issued", partner.id, clean_name, issued.prefix)
            return self._public(session, partner), issued

    def get(self, partner: str) -> PartnerPublic:
        """A partner by id (``ptn_…``) or name."""
        with self._session() as session:
            return self._public(session, self._find(session, partner))

    def list(self) -> list[PartnerPublic]:
        with self._session() as session:
            return [self._public(session, p) for p in session.exec(select(Partner).order_by(col(Partner.name)))]

    def suspend(self, partner: str, *, reason: str) -> PartnerPublic:
        """Suspend: every key of the partner is refused (403) until it is reinstated."""
        reason = " ".join(str(reason).split())
        if not reason or len(reason) > 500:
            raise PartnerInputError("give a reason for the suspension (1 to 500 characters)")
        with self._session() as session:
            row = self._find(session, partner)
            row.status, row.suspended_reason, row.suspended_at = "suspended", reason, self._clock()
            session.add(row)
            session.commit()
            logger.info("partner %s suspended", row.id)
            return self._public(session, row)

    def reinstate(self, partner: str) -> PartnerPublic:
        with self._session() as session:
            row = self._find(session, partner)
            row.status, row.suspended_reason, row.suspended_at = "active", None, None
            session.add(row)
            session.commit()
            logger.info("partner %s reinstated", row.id)
            return self._public(session, row)

    def set_limits(self, partner: str, *, quota: int | None = None, quota_period_days: int | None = None,
                   rate_per_minute: int | None = None, use_cases: Sequence[str] | None = None) -> PartnerPublic:
        """Change a partner's quota, period, rate limit or declared use cases."""
        with self._session() as session:
            row = self._find(session, partner)
            if quota is not None:
                row.quota = _positive("quota", quota, minimum=0)
            if quota_period_days is not None:
                row.quota_period_days = _positive("quota_period_days", quota_period_days, minimum=1)
            if rate_per_minute is not None:
                row.rate_per_minute = _positive("rate_per_minute", rate_per_minute, minimum=1)
            if use_cases is not None:
                row.use_cases = _use_cases(use_cases)
            session.add(row)
            session.commit()
            return self._public(session, row)

    # keys

    def rotate_key(self, partner: str, *, grace: timedelta | None = None, scopes: Iterable[str] | None = None,
                   expires_at: datetime | None = None) -> IssuedKey:
        """Issue a new key; the partner's other keys are revoked now, or at the end of ``grace``.

        ``scopes`` default to those of the partner's newest key. ``revoked_key_ids`` names the keys
        this rotation revoked (for the audit log).
        """
        if grace is not None and grace < timedelta(0):
            raise PartnerInputError("a grace period cannot be negative")
        now = self._clock()
        _aware(expires_at, now=now)
        with self._session() as session:
            row = self._find(session, partner)
            keys = list(session.exec(select(ApiKey).where(ApiKey.partner_id == row.id)
                                     .order_by(col(ApiKey.created_at).desc())))
            chosen = _scopes(scopes if scopes is not None else (keys[0].scopes if keys else SCOPES))
            until = now + (grace or timedelta(0))
            revoked = []
            for key in keys:
                if key.revoked_at is None or key.revoked_at > until:
                    key.revoked_at = until
                    session.add(key)
                    revoked.append(key.id)
            issued = self._issue(session, row.id, chosen, now=now, expires_at=expires_at)
            session.commit()
            logger.info("partner %s key rotated: %s issued, %d revoked", row.id, issued.prefix, len(revoked))
            return IssuedKey(key_id=issued.key_id, prefix=issued.prefix, partner_id=row.id,
                             plaintext=issued.plaintext, revoked_key_ids=tuple(revoked))

    def revoke_key(self, key: str) -> ApiKeyPublic:
        """Revoke one key now, by its id (``key_…``) or prefix (``lk_live_…``)."""
        with self._session() as session:
            row = session.exec(select(ApiKey).where((ApiKey.id == key) | (ApiKey.prefix == key))).first()
            if row is None:
                raise UnknownPartnerError(f"no API key {key}")
            now = self._clock()
            if row.revoked_at is None or row.revoked_at > now:
                row.revoked_at = now
                session.add(row)
                session.commit()
                logger.info("API key %s revoked", row.prefix)
            return _key_public(row)

    def authenticate(self, api_key: object) -> AuthenticatedPartner:
        """Who presents ``api_key``; raises 401 (unknown, revoked, expired) or 403 (partner suspended).

        The key is found by its prefix and compared in constant time with ``hmac.compare_digest``;
        an unknown prefix is compared against a decoy, so every failure costs the same work. Only a
        holder of the whole key learns that it is revoked or expired.
        """
        prefix = key_prefix(api_key)
        now = self._clock()
        with self._session() as session:
            row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first() if prefix else None
            matches = hmac.compare_digest(hash_api_key(api_key), row.key_hash if row is not None else _UNMATCHABLE_KEY)
            if row is None or not matches:
                raise UnknownKeyError("unknown API key (send Authorization: Bearer <your API key>)")
            if row.revoked_at is not None and row.revoked_at <= now:
                raise RevokedKeyError(f"API key {row.prefix} was revoked at {_text(row.revoked_at)}; "
                                      "use your partner's current key")
            if row.expires_at is not None and row.expires_at <= now:
                raise ExpiredKeyError(f"API key {row.prefix} expired at {_text(row.expires_at)}")
            partner = session.get(Partner, row.partner_id)
            if partner is None:  # a foreign key prevents this; fail closed anyway
                raise UnknownKeyError("unknown API key (send Authorization: Bearer <your API key>)")
            if partner.status != "active":
                raise PartnerSuspendedError(f"partner {partner.name} is suspended: {partner.suspended_reason}")
            self._touch(session, row, now=now)
            return AuthenticatedPartner(partner=self._public(session, partner, with_keys=False), key_id=row.id,
                                        key_prefix=row.prefix, scopes=frozenset(row.scopes))

    # admin tokens

    def add_admin(self, name: str, *, valid_for: timedelta = ADMIN_TOKEN_TTL) -> IssuedKey:
        """Issue an admin token for the ``/admin`` routes (shown once), refused ``valid_for`` from now."""
        clean = " ".join(str(name).split())
        if not clean or len(clean) > 100:
            raise PartnerInputError("an admin needs a name (1 to 100 characters)")
        if not isinstance(valid_for, timedelta) or not timedelta(minutes=1) <= valid_for <= MAX_ADMIN_TOKEN_TTL:
            raise PartnerInputError("an admin token lasts from 1 minute to 366 days")
        token_id = _random(_ID_CHARS)
        plaintext = f"{ADMIN_SCHEME}{token_id}_{_random(_SECRET_CHARS)}"
        now = self._clock()
        row = AdminToken(id=f"adm_{token_id}", name=clean, prefix=f"{ADMIN_SCHEME}{token_id}",
                         token_hash=hash_admin_token(plaintext), created_at=now, expires_at=now + valid_for)
        with self._session() as session:
            session.add(row)
            session.commit()
            logger.info("admin token %s issued", row.prefix)
        return IssuedKey(key_id=row.id, prefix=row.prefix, partner_id=None, plaintext=plaintext)

    def list_admins(self) -> builtins.list[AdminPublic]:  # `list` in the class is the method
        with self._session() as session:
            return [_admin_public(r) for r in session.exec(select(AdminToken).order_by(col(AdminToken.created_at)))]

    def revoke_admin(self, admin: str) -> AdminPublic:
        """Revoke an admin token by id (``adm_…``) or prefix (``lka_…``); its page sessions end with it."""
        with self._session() as session:
            query = select(AdminToken).where((AdminToken.id == admin) | (AdminToken.prefix == admin))
            row = session.exec(query).first()
            if row is None:
                raise UnknownPartnerError(f"no admin token {admin}")
            if row.revoked_at is None:
                row.revoked_at = self._clock()
                session.add(row)
            session.execute(delete(AdminSession).where(col(AdminSession.admin_id) == row.id))
            session.commit()
            logger.info("admin token %s revoked; its sessions ended", row.prefix)
            return _admin_public(row)

    def authenticate_admin(self, token: object) -> AdminPublic:
        """The admin presenting ``token``; 401 for anything else (partner keys included)."""
        match = _ADMIN.match(token) if isinstance(token, str) else None
        prefix = f"{ADMIN_SCHEME}{match.group(1)}" if match else None
        now = self._clock()
        with self._session() as session:
            row = session.exec(select(AdminToken).where(AdminToken.prefix == prefix)).first() if prefix else None
            ok = hmac.compare_digest(hash_admin_token(token), row.token_hash if row is not None else _UNMATCHABLE_ADMIN)
            if row is None or not ok:
                raise UnknownKeyError("unknown admin token")
            _admin_usable(row, now=now)
            self._touch(session, row, now=now)
            return _admin_public(row)

    # admin page sessions

    def start_admin_session(self, token: object, *, lifetime: timedelta) -> tuple[AdminPublic, str]:
        """Sign in with an admin token: the admin and a new session id (the cookie's value; only its hash is kept).

        The session ends ``lifetime`` from now at the latest (and never after the token expires).
        """
        admin = self.authenticate_admin(token)
        now = self._clock()
        session_id = SESSION_SCHEME + secrets.token_urlsafe(32)
        row = AdminSession(id_hash=hash_admin_session(session_id), admin_id=admin.id, created_at=now,
                           last_seen_at=now, expires_at=min(now + lifetime, admin.expires_at))
        with self._session() as session:
            session.execute(delete(AdminSession).where(col(AdminSession.expires_at) <= now))  # purge ended ones
            session.add(row)
            session.commit()
        logger.info("admin %s signed in (token %s)", admin.id, admin.prefix)
        return admin, session_id

    def admin_session(self, session_id: object, *, idle: timedelta, touch: bool = True) -> AdminPublic:
        """The admin of a live session; 401 when it ended (logout, idle, lifetime) or its token is revoked or expired.

        ``touch`` records the activity (the idle timeout counts from the last touch); a check that
        is not a page view (``admin_session_valid``) passes ``touch=False``. An ended session is deleted.
        """
        if not isinstance(session_id, str) or not _SESSION.match(session_id):
            raise UnknownKeyError("no admin session: sign in again")
        now = self._clock()
        with self._session() as session:
            row = session.get(AdminSession, hash_admin_session(session_id))
            if row is None:
                raise UnknownKeyError("no admin session: sign in again")
            token = session.get(AdminToken, row.admin_id)
            try:
                if now >= row.expires_at or now - row.last_seen_at >= idle:
                    raise ExpiredKeyError("the admin session expired: sign in again")
                if token is None:
                    raise UnknownKeyError("no admin session: sign in again")
                _admin_usable(token, now=now)
            except AuthenticationError:
                session.delete(row)
                self._commit_quietly(session)
                raise
            if touch:
                row.last_seen_at = now
                session.add(row)
                self._commit_quietly(session)
            return _admin_public(token)

    def end_admin_session(self, session_id: object) -> bool:
        """Delete the session (logout); whether there was one. Its cookie is refused from now on."""
        if not isinstance(session_id, str) or not _SESSION.match(session_id):
            return False
        with self._session() as session:
            gone = session.exec(delete(AdminSession).where(
                col(AdminSession.id_hash) == hash_admin_session(session_id))).rowcount
            session.commit()
        return bool(gone)

    # internals

    def _session(self) -> AbstractContextManager[Session]:
        return store_session(self._engine, error=PartnerStoreError, what="the partners database")

    def _touch(self, session: Session, row: ApiKey | AdminToken, *, now: datetime) -> None:
        """Note that the credential was used, at most once per :data:`_LAST_USED_EVERY` (not a write a request)."""
        if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_EVERY:
            row.last_used_at = now
            session.add(row)
            self._commit_quietly(session)

    def _commit_quietly(self, session: Session) -> None:
        """Commit a last-used time; losing one to a concurrent writer does not fail the request."""
        try:
            session.commit()
        except SQLAlchemyError:
            session.rollback()

    def _issue(self, session: Session, partner_id: str, scopes: builtins.list[str], *, now: datetime,
               expires_at: datetime | None) -> IssuedKey:
        key_id = _random(_ID_CHARS)
        plaintext = f"{KEY_SCHEME}{key_id}_{_random(_SECRET_CHARS)}"
        row = ApiKey(id=f"key_{key_id}", partner_id=partner_id, prefix=f"{KEY_SCHEME}{key_id}",
                     key_hash=hash_api_key(plaintext), scopes=scopes, created_at=now, expires_at=expires_at)
        session.add(row)
        return IssuedKey(key_id=row.id, prefix=row.prefix, partner_id=partner_id, plaintext=plaintext)

    def _find(self, session: Session, partner: str) -> Partner:
        if not isinstance(partner, str) or not partner:
            raise UnknownPartnerError("name a partner by its name or id")
        row = session.get(Partner, partner) if partner.startswith("ptn_") else None
        if row is None:
            row = session.exec(select(Partner).where(Partner.name == partner.strip().lower())).first()
        if row is None:
            raise UnknownPartnerError(f"no partner {partner}")
        return row

    def _public(self, session: Session, row: Partner, *, with_keys: bool = True) -> PartnerPublic:
        keys = []
        if with_keys:
            keys = [_key_public(k) for k in session.exec(select(ApiKey).where(ApiKey.partner_id == row.id)
                                                         .order_by(col(ApiKey.created_at), col(ApiKey.id)))]
        return PartnerPublic(id=row.id, name=row.name, use_cases=list(row.use_cases), status=row.status,
                             suspended_reason=row.suspended_reason, suspended_at=row.suspended_at, quota=row.quota,
                             quota_period_days=row.quota_period_days, rate_per_minute=row.rate_per_minute,
                             created_at=row.created_at, keys=keys)


def _key_public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=row.id, partner_id=row.partner_id, prefix=row.prefix, scopes=list(row.scopes),
                        created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                        last_used_at=row.last_used_at)


def _admin_public(row: AdminToken) -> AdminPublic:
    return AdminPublic(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
                       expires_at=row.expires_at, revoked_at=row.revoked_at, last_used_at=row.last_used_at)


def _admin_usable(row: AdminToken, *, now: datetime) -> None:
    """Raise 401 when the admin token is revoked or expired."""
    if row.revoked_at is not None and row.revoked_at <= now:
        raise RevokedKeyError(f"admin token {row.prefix} was revoked at {_text(row.revoked_at)}")
    if row.expires_at <= now:
        raise ExpiredKeyError(f"admin token {row.prefix} expired at {_text(row.expires_at)}; "
                              "ask an operator for a new one (`likeness admin add`)")


def _partner_name(name: object) -> str:
    clean = name.strip().lower() if isinstance(name, str) else ""
    if not _NAME.match(clean) or clean in _RESERVED_NAMES:
        raise PartnerInputError(f"{name!r} is not a valid partner name (letters, digits, . _ -; up to 100; "
                                "consents name partners by it)")
    return clean


def _use_cases(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    out = set()
    for value in values:
        folded = value.strip().lower() if isinstance(value, str) else ""
        if not _PURPOSE.match(folded) or folded == "any":
            raise PartnerInputError(f"{value!r} is not a valid use case (a purpose: lowercase letters, digits, . _ -)")
        out.add(folded)
    if not out:
        raise PartnerInputError("declare at least one use case (--use-case)")
    return sorted(out)


def _scopes(values: Iterable[str]) -> list[str]:
    out = set()
    for value in [values] if isinstance(values, str) else values:
        if value not in SCOPES:
            raise PartnerInputError(f"unknown scope {value!r}: one of {', '.join(SCOPES)}")
        out.add(value)
    if not out:
        raise PartnerInputError("a key needs at least one scope")
    return sorted(out)


def _positive(what: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 10**9:
        raise PartnerInputError(f"{what} must be a whole number from {minimum} to 1000000000, not {value!r}")
    return value


def _aware(moment: datetime | None, *, now: datetime) -> None:
    if moment is None:
        return
    if moment.utcoffset() is None:
        raise PartnerInputError("an expiry must carry its time zone")
    if moment <= now:
        raise PartnerInputError("an expiry must lie in the future")


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
