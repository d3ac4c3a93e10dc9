"""What the partners registry hands out: partners, keys and admins as operators see them, never a secret.

>>> from partners.schemas import IssuedKey
>>> IssuedKey(key_id="key_1", prefix="lk_live_1", partner_id="ptn_1", plaintext="lk_live_1_secret")
IssuedKey(key_id='key_1', prefix='lk_live_1', partner_id='ptn_1', plaintext=<hidden>)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from partners.errors import ScopeError


class ApiKeyPublic(BaseModel):
    """A key as an operator sees it: never the key, never its hash."""

    model_config = ConfigDict(frozen=True)

    id: str
    partner_id: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class PartnerPublic(BaseModel):
    """A partner, its limits and its keys."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    use_cases: list[str]
    status: str
    suspended_reason: str | None
    suspended_at: datetime | None
    quota: int
    quota_period_days: int
    rate_per_minute: int
    created_at: datetime
    keys: list[ApiKeyPublic] = []

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def quota_period(self) -> timedelta:
        return timedelta(days=self.quota_period_days)


class AdminPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    """A key or admin token just issued: ``plaintext`` is shown to its holder once and never again."""

    key_id: str
    prefix: str
    partner_id: str | None
    plaintext: str = field(repr=False)
    revoked_key_ids: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return (f"IssuedKey(key_id={self.key_id!r}, prefix={self.prefix!r}, partner_id={self.partner_id!r}, "
                "plaintext=<hidden>)")


@dataclass(frozen=True)
class AuthenticatedPartner:
    """Who a ``/v1`` request is from: the partner, which key, and what that key may do."""

    partner: PartnerPublic
    key_id: str
    key_prefix: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise :class:`ScopeError` (403) unless the key carries ``scope``."""
        if scope not in self.scopes:
            raise ScopeError(f"API key {self.key_prefix} lacks the scope {scope}")


__all__ = ["AdminPublic", "ApiKeyPublic", "AuthenticatedPartner", "IssuedKey", "PartnerPublic"]
