"""One process's services, built once from the settings and handed to the app, the worker and the CLI.

``Runtime.build(settings)`` opens the database (migrating it), loads the keys, the policies
(a broken policy file stops start-up with its error), the identity backend, the consent
registry, the audit log, the job queue and the gate. The generator (the backend named by
``LIKENESS_GENERATOR_BACKEND``) is loaded only where jobs run (``with_worker=True``): the
embedded consumer of ``likeness serve``, or ``likeness worker``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from audit import AuditKey, AuditKind, AuditLog, AuditSink, init_audit_key
from consent import ConsentService
from faces import IdentityBackend, get_identity_backend
from gateway.deps import consent_keys, open_engine, provenance_identity
from gateway.settings import Settings
from generations import (
    BlobStore,
    Gate,
    GenerationWorker,
    JobQueue,
    JobStore,
    ReleaseSettings,
    delete_released_outputs,
    grant_logged,
    secure_data_dir,
)
from generations.sessions import SessionStore
from likeness.files import private_dir
from partners import PartnerService, RateLimiter
from policy import PolicySet, load_policies
from provenance import ManifestRepository

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    jobs: JobStore
    blobs: BlobStore
    registry: ConsentService
    identity: IdentityBackend
    partners: PartnerService
    policies: PolicySet
    audit_log: AuditLog
    queue: JobQueue
    gate: Gate
    sessions: SessionStore
    worker: GenerationWorker | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, *, with_worker: bool = False, queue: JobQueue | None = None) -> Runtime:
        private_dir(settings.data_dir)  # 0700 when this makes it (`likeness serve` tightens an existing one)
        engine = open_engine(settings)
        policies = load_policies(settings.policy_dir)
        identity = get_identity_backend(settings.identity_backend, model_dir=settings.insightface_model_dir,
                                        providers=settings.identity_providers)
        registry = ConsentService(engine, keys=consent_keys(settings), identity=identity)
        audit_log = AuditLog(engine, signing_key=AuditKey.from_file(settings.resolved_audit_signing_key_file))
        jobs = JobStore(engine)
        blobs = BlobStore(settings.data_dir)
        sessions = SessionStore(engine)
        queue = queue or JobQueue.open(redis_url=settings.redis_url, sqlite_path=settings.jobs_db_path)
        gate = Gate(jobs=jobs, rates=RateLimiter(engine), blobs=blobs, registry=registry, identity=identity,
                    policies=policies, queue=queue, audit=audit_sink(audit_log, role="partner"),
                    max_media_seconds=settings.max_media_seconds, max_upload_bytes=settings.max_upload_bytes,
                    grant_logged=lambda consent: grant_logged(audit_log, consent), sessions=sessions)
        runtime = cls(settings=settings, engine=engine, jobs=jobs, blobs=blobs, registry=registry,
                      identity=identity, partners=PartnerService(engine), policies=policies, audit_log=audit_log,
                      queue=queue, gate=gate, sessions=sessions)
        if with_worker:
            runtime.attach_worker()
        return runtime

    def attach_worker(self) -> GenerationWorker:
        from generator import get_generator

        worker = GenerationWorker(
            jobs=self.jobs, blobs=self.blobs, registry=self.registry,
            generator=get_generator(self.settings.generator_backend),
            identity=provenance_identity(self.settings), repository=ManifestRepository(self.engine),
            audit=self.auditor("worker"), partners=self.partners, policies=lambda: self.policies,
            max_input_bytes=self.settings.max_upload_bytes,
            release_settings=ReleaseSettings(crf=self.settings.video_crf, preset=self.settings.video_preset,
                                             strength=self.settings.watermark_strength),
            lease_s=self.settings.job_lease_s,
        )
        self.worker = worker
        self.queue.attach(worker.run)
        return worker

    def delete_outputs(self, consent_ids: list[str], *, cause: AuditKind) -> list[str]:
        """Delete the released videos of these consents (on ``consent.revoked`` / ``consent.erased``)."""
        return delete_released_outputs(consent_ids, cause=cause, jobs=self.jobs, blobs=self.blobs,
                                       registry=self.registry, audit=self.auditor("system"))

    def auditor(self, role: str) -> AuditSink:
        """An ``audit(kind, **facts)`` callable that logs as ``role`` (partner facts name the actor)."""
        return audit_sink(self.audit_log, role=role,
                          worker_name=lambda: self.worker.name if self.worker is not None else None)


def audit_sink(log: AuditLog, *, role: str, worker_name: Callable[[], str | None] = lambda: None) -> AuditSink:
    """A sink appending to ``log`` as ``role``: a partner's key, the named worker, or the role itself is the actor."""

    def record(kind: AuditKind, /, **facts: Any) -> None:
        partner = facts.pop("partner_id", None)
        name = worker_name() if role == "worker" else None
        if role == "partner":
            actor = f"partner:{partner}/key:{facts.get('api_key_id')}"
        elif name is not None:
            actor = f"worker:{name}"
        elif role == "server":
            actor = f"server:{SERVER_NAME}"
        else:
            actor = role
        consent_id = facts.pop("consent_id", None)
        generation_id = facts.pop("generation_id", None)
        log.append(kind, actor=actor, data=facts, partner=partner, consent_id=consent_id,
                   generation_id=generation_id)

    return record


SERVER_NAME = f"{socket.gethostname()}:{os.getpid()}"  # this process, as audit entries of live sessions name it

PUBLIC_FILES = ("keys/root.pem", "keys/issuing.pem", "keys/signing.pem", "keys/chain.pem")  # certificates


def secure_data_dir_of(settings: Settings) -> list[Path]:
    """The data dir 0700 and everything in it 0600/0700 but the public certificates; what was changed."""
    return secure_data_dir(settings.data_dir, public=PUBLIC_FILES)


def ensure_keys(settings: Settings) -> None:
    """Development keys when absent (never in production): the first ``serve`` works out of the box."""
    if settings.environment == "production":
        return
    private_dir(settings.data_dir)  # before the keys folder is made inside it (its parents get the umask's mode)
    from consent import init_consent_keys
    from provenance import init_identity

    init_identity(settings.keys_dir)
    init_consent_keys(settings.keys_dir)
    init_audit_key(settings.resolved_audit_signing_key_file)


__all__ = ["PUBLIC_FILES", "Runtime", "ensure_keys", "secure_data_dir_of"]
