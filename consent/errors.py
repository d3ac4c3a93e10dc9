"""The errors of ``consent``: each says what is wrong with a consent and, where it can, what to do.

>>> from consent.errors import ConsentAuthError, ConsentError, ConsentRevokedError, ConsentInactiveError
>>> err = ConsentRevokedError("consent cns_… was revoked by its subject")
>>> isinstance(err, ConsentInactiveError), isinstance(err, ConsentError), err.http_status
(True, True, 403)
>>> ConsentAuthError.http_status
403

The tree::

    ConsentError
    ├── UnknownConsentError       no consent has this id (404)
    ├── ConsentAuthError          the consent id or the management token is not valid (403; one
    │                             message for both, so a token holder learns nothing about other ids)
    ├── ConsentInactiveError      the consent exists but permits nothing now (403)
    │   ├── ConsentRevokedError       its subject revoked it
    │   ├── ConsentExpiredError       its validity ended
    │   ├── ConsentNotYetValidError   its validity has not begun
    │   └── ConsentErasedError        its subject erased their data (410)
    ├── ConsentTamperedError      a row fails its signature or hash-chain check (500; fails closed)
    ├── ConsentKeyError           the consent signing key or master key is missing, unreadable, exposed
    ├── ConsentInputError         a scope, embedding or record the registry refuses (422)
    ├── ReferenceUnavailableError no reference embedding of the identity model in use (409: re-enrol)
    ├── ConsentConflictError      changed concurrently; retry (409)
    ├── ConsentStoreError         the database could not be read or written (503)
    └── StatementError            a consent-statement recording that cannot be checked at all: not a
                                  video, corrupt or truncated, no sound, over 2 minutes (422); a
                                  recording that is checked and fails is a verdict, not an error
"""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class ConsentError(LikenessError):
    """Base of the consent errors."""


class UnknownConsentError(kinds.NotFoundError, ConsentError):
    """No consent has this id."""


class ConsentAuthError(kinds.ForbiddenError, ConsentError):
    """The consent id or the management token is not valid (deliberately not saying which)."""


class ConsentInactiveError(kinds.ForbiddenError, ConsentError):
    """The consent exists but permits nothing at the time asked about."""


class ConsentRevokedError(ConsentInactiveError):
    """The subject revoked the consent."""


class ConsentExpiredError(ConsentInactiveError):
    """The consent's validity has ended."""


class ConsentNotYetValidError(ConsentInactiveError):
    """The consent's validity has not begun."""


class ConsentErasedError(ConsentInactiveError):
    """The subject erased their data: the reference embeddings are gone for good."""

    http_status = 410


class ConsentTamperedError(kinds.TamperedError, ConsentError):
    """A consent row or revision fails its signature, hash or chain check: it was changed outside Likeness."""


class ConsentKeyError(kinds.UnusableKeyError, ConsentError):
    """The consent signing key or the master key is missing, unreadable, readable by others or malformed."""


class ConsentInputError(kinds.InputError, ConsentError):
    """A scope, embedding or record that the registry refuses."""


class ReferenceUnavailableError(kinds.ConflictError, ConsentError):
    """The consent has no reference embedding made by the identity model in use."""


class ConsentConflictError(kinds.ConflictError, ConsentError):
    """The consent changed while this request was changing it; retry."""


class ConsentStoreError(kinds.StoreUnavailableError, ConsentError):
    """The consent registry's database could not be read or written."""


class StatementError(kinds.InputError, ConsentError):
    """A consent-statement recording that cannot be checked: not a video, unreadable, silent track missing, too long."""


__all__ = [
    "ConsentAuthError",
    "ConsentConflictError",
    "ConsentErasedError",
    "ConsentError",
    "ConsentExpiredError",
    "ConsentInactiveError",
    "ConsentInputError",
    "ConsentKeyError",
    "ConsentNotYetValidError",
    "ConsentRevokedError",
    "ConsentStoreError",
    "ConsentTamperedError",
    "ReferenceUnavailableError",
    "StatementError",
    "UnknownConsentError",
]
