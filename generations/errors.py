"""The errors of ``generations``: refusals at the gate, and the job store, queue and storage failing.

>>> from generations.errors import GenerationError, QuotaExceeded, Refusal
>>> refusal = Refusal("consent cns_… does not cover this partner", status=403, code="consent_scope")
>>> refusal.http_status, refusal.code, isinstance(refusal, GenerationError), QuotaExceeded.http_status
(403, 'consent_scope', True, 429)

The tree::

    GenerationError
    ├── Refusal                   the gate refused a request: an HTTP status, a code, the policy's reasons
    ├── JobStoreError             the jobs table could not be read or written (503)
    ├── IdempotencyConflict       an idempotency key reused for a different request (409)
    ├── QuotaExceeded             accepting the job would exceed the partner's quota (429)
    ├── QueueError                the queue could not be reached (503)
    └── StorageError              a blob could not be written or read (503)
        └── InputTamperedError        a stored input is not the file the gate checked (500)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from likeness import LikenessError
from likeness import errors as kinds

if TYPE_CHECKING:
    from policy import Reason


class GenerationError(LikenessError):
    """Base of the errors of the generation pipeline (gate, jobs, queue, storage)."""


class Refusal(GenerationError):
    """A request the gate refused, with the reasons a partner can act on."""

    def __init__(self, message: str, *, status: int, code: str, reasons: tuple[Reason, ...] = (),
                 policy_version: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code
        self.reasons = reasons
        self.policy_version = policy_version
        self.retry_after_s = retry_after_s


class JobStoreError(kinds.StoreUnavailableError, GenerationError):
    """The jobs table could not be read or written."""


class IdempotencyConflict(kinds.ConflictError, GenerationError):
    """The idempotency key was used before for a different request."""


class QuotaExceeded(GenerationError):
    """Accepting the job would exceed the partner's quota (checked again under a lock)."""

    http_status = 429


class QueueError(kinds.StoreUnavailableError, GenerationError):
    """The queue could not be reached."""


class StorageError(kinds.StoreUnavailableError, GenerationError):
    """A blob could not be written or read."""


class InputTamperedError(kinds.TamperedError, StorageError):
    """A stored input is not the file the gate checked (its SHA-256 differs): nothing is made from it."""

    http_status = 500  # not the storage's 503: the store answered, with the wrong file
    code = "input_tampered"

    def __init__(self, message: str, *, role: str, expected_sha256: str, found_sha256: str | None) -> None:
        super().__init__(message)
        self.role = role
        self.expected_sha256 = expected_sha256
        self.found_sha256 = found_sha256


__all__ = [
    "GenerationError",
    "IdempotencyConflict",
    "InputTamperedError",
    "JobStoreError",
    "QueueError",
    "QuotaExceeded",
    "Refusal",
    "StorageError",
]
