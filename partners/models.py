"""Tables of the partners registry.

--- partners, API keys, admin tokens (partners/service.py; migration 0004) ---

::

    partners ─── api_keys      a partner's keys: prefix (lk_live_<key id>), SHA-256 of the key, scopes,
                               revoked_at (set now, or in the future during a rotation's grace period)
    admin_tokens               operators' tokens for /admin (lka_<id>), hashed the same way; each expires
    rate_windows               requests a partner made in one fixed minute, shared by every gateway replica
                               (migration 0005; partners/limits.py)
    admin_sessions             a signed-in admin page session (migration 0007): the SHA-256 of its random
                               id (the cookie holds the id), its token, created / last seen / expires

No column holds a key, a token or a session id: each is shown once when issued and only its hash is kept.
Partners are suspended, never deleted, so every generation keeps naming who made it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Partner(SQLModel, table=True):
    """A vetted partner: its declared use cases, its limits, and whether it is suspended."""

    __tablename__ = "partners"

    id: str = Field(primary_key=True, max_length=40, description="ptn_ + 16 hex digits, random")
    name: str = Field(unique=True, index=True, max_length=100, description="lowercase; what consents name")
    use_cases: list[str] = Field(sa_column=Column(JSON, nullable=False), description="declared purposes")
    status: str = Field(default="active", max_length=16, description="active or suspended")
    suspended_reason: str | None = Field(default=None, max_length=500)
    suspended_at: datetime | None = None
    quota: int = Field(description="generations allowed per quota period")
    quota_period_days: int = Field(default=30)
    rate_per_minute: int = Field(description="requests allowed per minute")
    created_at: datetime = Field(default_factory=_now)


class ApiKey(SQLModel, table=True):
    """One API key of a partner, known by its prefix; the key itself is never stored."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40, description="key_ + the 10-character key id")
    partner_id: str = Field(foreign_key="partners.id", index=True, max_length=40)
    prefix: str = Field(unique=True, index=True, max_length=40, description="lk_live_ + key id: shown, logged")
    key_hash: str = Field(max_length=64, repr=False, description="SHA-256 (domain-tagged) of the whole key")
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=_now)
    expires_at: datetime | None = None
    revoked_at: datetime | None = Field(default=None, description="revoked from this instant (may be ahead)")
    last_used_at: datetime | None = Field(default=None, description="updated at most once a minute")


class AdminToken(SQLModel, table=True):
    """An operator's token for the /admin routes; never accepted on /v1, and a partner key never here."""

    __tablename__ = "admin_tokens"

    id: str = Field(primary_key=True, max_length=40, description="adm_ + the 10-character token id")
    name: str = Field(max_length=100)
    prefix: str = Field(unique=True, index=True, max_length=40, description="lka_ + token id")
    token_hash: str = Field(max_length=64, repr=False)
    created_at: datetime = Field(default_factory=_now)
    expires_at: datetime = Field(description="refused from this instant (`likeness admin add --expires-in`)")
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class AdminSession(SQLModel, table=True):
    """A signed-in /admin page session; the cookie holds its random id, this row only the id's hash."""

    __tablename__ = "admin_sessions"

    id_hash: str = Field(primary_key=True, max_length=64, repr=False, description="SHA-256 (domain-tagged) of the id")
    admin_id: str = Field(foreign_key="admin_tokens.id", index=True, max_length=40)
    created_at: datetime = Field(default_factory=_now)
    last_seen_at: datetime = Field(default_factory=_now, description="idle timeout counts from here")
    expires_at: datetime = Field(index=True, description="absolute end, whatever the activity")


class RateWindow(SQLModel, table=True):
    """Requests a partner made in one fixed one-minute window (shared by every gateway replica)."""

    __tablename__ = "rate_windows"

    partner_id: str = Field(primary_key=True, max_length=40)
    minute: int = Field(primary_key=True, description="Unix time // 60")
    count: int = 0
