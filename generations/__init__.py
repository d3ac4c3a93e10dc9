"""Generations: the gate, the jobs and their table, the queue, the workers, storage and retention.

>>> import tempfile; from pathlib import Path
>>> from generations import BlobStore, JobQueue, JobStatus
>>> JobQueue.open(redis_url=None, sqlite_path=Path(tempfile.mkdtemp()) / "jobs.db").backend
'sqlite'
>>> JobStatus.RELEASED.value
'released'

A request passes the :class:`Gate` (media, consent, identity, quota, policy; every decision
logged) and becomes a row in ``generation_jobs`` (:class:`JobStore`, the source of truth); the
queue (:class:`JobQueue`, Huey) only dispatches job ids to a :class:`GenerationWorker`, which
re-checks consent and policy, renders, and releases through ``provenance.release``. Inputs and
outputs live in a :class:`BlobStore`; :mod:`generations.retention` deletes outputs whose consent
was revoked or erased; :mod:`generations.crosscheck` holds the consent registry against the audit log.
"""

from generations.crosscheck import ConsentCheckReport, check_consents, grant_logged, log_grant
from generations.errors import (
    GenerationError,
    IdempotencyConflict,
    InputTamperedError,
    JobStoreError,
    QueueError,
    QuotaExceeded,
    Refusal,
    StorageError,
)
from generations.gate import ConsentCheck, Gate, GenerationRequest, MediaUpload, redecide
from generations.jobs import MAX_ATTEMPTS, JobCreate, JobStore
from generations.models import FINAL, GenerationJob, JobStatus
from generations.queue import EmbeddedConsumer, JobQueue, Recovery
from generations.retention import delete_released_outputs, sweep_withdrawn
from generations.storage import BlobStore, secure_data_dir
from generations.worker import LEASE_S, GenerationWorker, ReleaseSettings

__all__ = [
    "FINAL",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "BlobStore",
    "ConsentCheck",
    "ConsentCheckReport",
    "EmbeddedConsumer",
    "Gate",
    "GenerationError",
    "GenerationJob",
    "GenerationRequest",
    "GenerationWorker",
    "IdempotencyConflict",
    "InputTamperedError",
    "JobCreate",
    "JobQueue",
    "JobStatus",
    "JobStore",
    "JobStoreError",
    "MediaUpload",
    "QueueError",
    "QuotaExceeded",
    "Recovery",
    "Refusal",
    "ReleaseSettings",
    "StorageError",
    "check_consents",
    "delete_released_outputs",
    "grant_logged",
    "log_grant",
    "redecide",
    "secure_data_dir",
    "sweep_withdrawn",
]
