"""The errors of ``audit``: each says what is wrong and, where it can, what to do.

>>> from audit.errors import AuditError, AuditInputError, RawBiometricsError
>>> err = RawBiometricsError("data.embedding: raw biometrics never enter the audit log")
>>> isinstance(err, AuditInputError), isinstance(err, AuditError), err.http_status
(True, True, 422)

The tree::

    AuditError
    ├── AuditInputError        an entry or query the log refuses: unknown kind, data that is not JSON,
    │                          a public key or an export file that cannot be read (422)
    │   └── RawBiometricsError     data that looks like raw biometrics (an embedding, landmarks, pixels)
    ├── AuditNotFoundError     no entry with this index, or a tree size the log has not reached (404)
    ├── AuditKeyError          the audit signing key is missing, unreadable, readable by others, malformed (500)
    ├── AuditIntegrityError    the stored log does not add up: run ``likeness audit verify`` (500)
    └── AuditStoreError        the database could not be read or written (503)
"""

from __future__ import annotations

from likeness import LikenessError
from likeness import errors as kinds


class AuditError(LikenessError):
    """Base of the audit errors."""


class AuditInputError(kinds.InputError, AuditError):
    """An entry (or a query) that the audit log refuses."""


class RawBiometricsError(AuditInputError):
    """Entry data that looks like raw biometrics: only hashes and scores may be logged."""


class AuditNotFoundError(kinds.NotFoundError, AuditError):
    """No entry with this index, or a tree size the log has not reached."""


class AuditKeyError(kinds.UnusableKeyError, AuditError):
    """The audit signing key (or a public key to verify with) is missing, unreadable, exposed or malformed."""


class AuditIntegrityError(kinds.TamperedError, AuditError):
    """The stored log does not add up (a hash or signature fails): it was changed outside Likeness."""


class AuditStoreError(kinds.StoreUnavailableError, AuditError):
    """The audit log's database could not be read or written."""


__all__ = [
    "AuditError",
    "AuditInputError",
    "AuditIntegrityError",
    "AuditKeyError",
    "AuditNotFoundError",
    "AuditStoreError",
    "RawBiometricsError",
]
