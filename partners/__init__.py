"""Partners: vetted partners, their API keys, quotas and rate limits, and the operators' admin tokens and sessions.

>>> from sqlmodel import SQLModel, create_engine
>>> from partners import PartnerService
>>> engine = create_engine("sqlite://"); SQLModel.metadata.create_all(engine)   # the app runs the migrations
>>> partner, issued = PartnerService(engine).add("acme", use_cases=["education"])
>>> PartnerService(engine).authenticate(issued.plaintext).partner.name
'acme'

Keys and tokens are shown once and stored hashed (:mod:`partners.service`); the tables are in
:mod:`partners.models`, the shapes in :mod:`partners.schemas`, the errors in :mod:`partners.errors`.
"""

from partners.errors import (
    AuthenticationError,
    ExpiredKeyError,
    PartnerError,
    PartnerExistsError,
    PartnerInputError,
    PartnerStoreError,
    PartnerSuspendedError,
    RevokedKeyError,
    ScopeError,
    UnknownKeyError,
    UnknownPartnerError,
)
from partners.limits import RateLimiter
from partners.schemas import AdminPublic, ApiKeyPublic, AuthenticatedPartner, IssuedKey, PartnerPublic
from partners.service import (
    ADMIN_TOKEN_TTL,
    DEFAULT_QUOTA,
    DEFAULT_QUOTA_PERIOD_DAYS,
    DEFAULT_RATE_PER_MINUTE,
    SCOPES,
    PartnerService,
    hash_admin_session,
    hash_admin_token,
    hash_api_key,
    key_prefix,
)

__all__ = [
    "ADMIN_TOKEN_TTL",
    "DEFAULT_QUOTA",
    "DEFAULT_QUOTA_PERIOD_DAYS",
    "DEFAULT_RATE_PER_MINUTE",
    "SCOPES",
    "AdminPublic",
    "ApiKeyPublic",
    "AuthenticatedPartner",
    "AuthenticationError",
    "ExpiredKeyError",
    "IssuedKey",
    "PartnerError",
    "PartnerExistsError",
    "PartnerInputError",
    "PartnerPublic",
    "PartnerService",
    "PartnerStoreError",
    "PartnerSuspendedError",
    "RateLimiter",
    "RevokedKeyError",
    "ScopeError",
    "UnknownKeyError",
    "UnknownPartnerError",
    "hash_admin_session",
    "hash_admin_token",
    "hash_api_key",
    "key_prefix",
]
