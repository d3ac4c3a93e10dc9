"""The errors of ``partners``: credentials that do not authenticate, partners that may not act, a store that is down.

>>> from partners.errors import AuthenticationError, PartnerError, UnknownKeyError
>>> issubclass(UnknownKeyError, AuthenticationError), UnknownKeyError.http_status
(True, 401)

The tree::

    PartnerError
    ├── AuthenticationError       the credential does not authenticate (401)
    │   ├── UnknownKeyError           malformed, never issued, or a wrong secret (one message for all)
    │   ├── RevokedKeyError           revoked (rotated or by an operator)
    │   └── ExpiredKeyError           past its expiry
    ├── PartnerSuspendedError     a valid key of a suspended partner (403)
    ├── ScopeError                a valid key without the scope the request needs (403)
    ├── UnknownPartnerError       no partner, key or admin token by this name or id (404)
    ├── PartnerExistsError        the name is taken (409)
    ├── PartnerInputError         a name, use case, scope or limit refused (422)
    └── PartnerStoreError         the partners tables could not be read or written (503)
"""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class PartnerError(LikenessError):
    """Base of the partner and credential errors."""


class AuthenticationError(PartnerError):
    """The credential presented does not authenticate (401)."""

    http_status = 401


class UnknownKeyError(AuthenticationError):
    """No key matches: malformed, never issued, or the secret part is wrong (one message for all)."""


class RevokedKeyError(AuthenticationError):
    """The key was revoked (rotated or revoked by an operator)."""


class ExpiredKeyError(AuthenticationError):
    """The key's expiry has passed."""


class PartnerSuspendedError(kinds.ForbiddenError, PartnerError):
    """The key is valid but its partner is suspended (403)."""


class ScopeError(kinds.ForbiddenError, PartnerError):
    """The key is valid but lacks the scope the request needs (403)."""


class UnknownPartnerError(kinds.NotFoundError, PartnerError):
    """No partner (or key, or admin token) has this name or id (404)."""


class PartnerExistsError(kinds.ConflictError, PartnerError):
    """A partner with this name already exists (409)."""


class PartnerInputError(kinds.InputError, PartnerError):
    """A name, use case, scope or limit the registry refuses (422)."""


class PartnerStoreError(kinds.StoreUnavailableError, PartnerError):
    """The partners tables could not be read or written (503)."""


__all__ = [
    "AuthenticationError",
    "ExpiredKeyError",
    "PartnerError",
    "PartnerExistsError",
    "PartnerInputError",
    "PartnerStoreError",
    "PartnerSuspendedError",
    "RevokedKeyError",
    "ScopeError",
    "UnknownKeyError",
    "UnknownPartnerError",
]
