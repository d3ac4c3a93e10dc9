"""The root of the project's error tree, and the kinds of failure that own an HTTP status and an exit code.

>>> from likeness.errors import InternalError, LikenessError, StoreUnavailableError
>>> class ThingError(LikenessError):
...     '''Base of a package's errors.'''
>>> class ThingStoreError(StoreUnavailableError, ThingError):   # the kind first: its status wins
...     '''The things table could not be read or written.'''
>>> err = ThingStoreError("the things store is unavailable: OperationalError")
>>> isinstance(err, ThingError), isinstance(err, InternalError), err.http_status, err.exit_code
(True, True, 503, 1)
>>> str(err)
'the things store is unavailable: OperationalError'

Every error a user can act on derives from :class:`LikenessError`; each package defines
its own subclasses in its ``errors.py``. Third-party errors (PyAV, c2pa, SQLAlchemy, CUDA)
are translated at the package boundary so that callers only ever see this tree.

``exit_code`` is what a CLI returns for it (2: the input or request was refused; 1: not the
caller's fault, the operator has to act); ``http_status`` is what the gateway answers with.
Neither is restated per package: a package error inherits both from the kind of failure it is,
listed first so that the kind wins over the package base. The packages import the module as
``kinds`` so that a class says which kind it is: ``class ConsentStoreError(kinds.StoreUnavailableError,
ConsentError)``. The kinds::

    LikenessError               400, exit 2  the request is refused as it stands
    ├── InputError              422          an input (a field, a file, a query) is invalid or unreadable
    ├── ForbiddenError          403          the caller may not do this, or not now
    ├── NotFoundError           404          nothing has this id, name or index
    ├── ConflictError           409          the state disagrees with the request: retry, or change it first
    └── InternalError           500, exit 1  the service cannot do this until its operator acts
        ├── UnusableKeyError                 a key is missing, unreadable, readable by others or malformed
        ├── TamperedError                    stored data fails its hash or signature check (fails closed)
        ├── BackendError                     a backend or model is missing, altered or failing
        └── StoreUnavailableError   503      a database could not be read or written

The packages' trees (each adds its leaves, most of them under one of the kinds)::

    LikenessError
    ├── media.MediaError            bad, hostile, oversize or unsupported input files
    ├── speech.SpeechError          the audio front-end (speech synthesis)
    ├── faces.FaceError, consent.ConsentError, policy.PolicyError, audit.AuditError, generator.GeneratorError
    ├── provenance.ProvenanceError  signing identity, watermark, C2PA, release path
    ├── detector.DetectorError      the forensic tool could not analyse the input
    ├── partners.PartnerError       credentials, partners, admin tokens and sessions
    ├── generations.GenerationError the gate's refusals, the job store, queue and storage
    └── gateway.errors.GatewayError settings, the database, the demo
"""

from __future__ import annotations


class LikenessError(Exception):
    """An error with a message a user can act on."""

    exit_code: int = 2
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(LikenessError):
    """An input (a field, a file, a query) that is invalid or cannot be read."""

    http_status = 422


class ForbiddenError(LikenessError):
    """The caller may not do this, or not now."""

    http_status = 403


class NotFoundError(LikenessError):
    """Nothing has this id, name or index."""

    http_status = 404


class ConflictError(LikenessError):
    """The stored state disagrees with the request: retry it, or change the state first."""

    http_status = 409


class InternalError(LikenessError):
    """Not the caller's fault: the service cannot do this until its operator acts."""

    http_status = 500
    exit_code = 1


class UnusableKeyError(InternalError):
    """A key is missing, unreadable, readable by others or malformed."""


class TamperedError(InternalError):
    """Stored data fails its hash or signature check: it was changed outside Likeness, so nothing uses it."""


class BackendError(InternalError):
    """A backend or model is missing, altered, or failed on an input it should handle."""


class StoreUnavailableError(InternalError):
    """A database could not be read or written (usually for a while: the request can be retried)."""

    http_status = 503


__all__ = [
    "BackendError",
    "ConflictError",
    "ForbiddenError",
    "InputError",
    "InternalError",
    "LikenessError",
    "NotFoundError",
    "StoreUnavailableError",
    "TamperedError",
    "UnusableKeyError",
]
