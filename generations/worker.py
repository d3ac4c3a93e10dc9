"""The worker: runs one accepted generation job from claim to release, and recovers lost ones.

:meth:`GenerationWorker.run` is what the queue calls with a job id. It claims the job (so a
duplicated queue message does nothing), checks the consent again before generating, renders
the frames, checks the consent once more, releases through :func:`provenance.release` (the one
path that writes generated video: watermark, encode, sign, self-check, atomic write), checks the
consent a last time before the video becomes downloadable, records the generation on the
consent (its subject sees it on their management page), and writes each outcome to the audit
log. A revocation at any point before the job is marked released stops it, and a released file
whose consent was revoked meanwhile is deleted, never served.

Before generating, every few dozen frames, before release and before delivery, the worker asks
again everything the gate decided that can change: the consent's scope (``consent_withdrawn``),
the partner (suspended or removed: ``partner_suspended``, ``partner_removed``) and the policy,
under the policy set in force now (:func:`generations.gate.redecide`: ``policy_denied``). Each
refusal cancels the job with its reasons in the audit log, and nothing is delivered. The inputs
are read through :meth:`~generations.storage.BlobStore.read_verified`: a portrait or an audio file
that is not the one the gate hashed fails the job (``input_tampered``), logged, with no output.
After the job is marked released, the consent is read once more: if it was revoked or erased
meanwhile, the video is deleted (:func:`generations.retention.delete_released_outputs`), so a
release racing the revocation's deletion pass leaves nothing on disk.

A worker killed mid-job loses nothing: its lease expires, :meth:`GenerationWorker.recover`
hands the job to the queue again (at most :data:`~generations.MAX_ATTEMPTS` attempts),
and the retry either adopts a video the dead attempt had fully released (its manifest is in
the repository and the file's hash matches) or starts over; nothing half-written is ever
served, because the release path renames a finished, signed file into place and the job only
becomes ``released`` after that.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn

import numpy as np

from audit import AuditKind, AuditSink
from consent import ConsentError, ConsentService
from generations.errors import InputTamperedError
from generations.gate import redecide
from generations.jobs import JobStore
from generations.models import GenerationJob, JobStatus
from generations.retention import delete_if_withdrawn, sweep_withdrawn
from generations.storage import BlobStore
from generator import Controls, Generator
from likeness import LikenessError
from media import Sandbox
from partners import PartnerService, UnknownPartnerError
from policy import PolicySet
from provenance import (
    GenerationClaim,
    InputRef,
    ManifestRepository,
    ProvenanceIdentity,
    release,
    watermark_id_for,
)

logger = logging.getLogger(__name__)

LEASE_S = 120.0
RENEW_EVERY_FRAMES = 50

# Stored inputs are still untrusted bytes: decoded in a confined child like the gate does.
SANDBOX = Sandbox()


@dataclass(frozen=True)
class ReleaseSettings:
    crf: int = 20
    preset: str = "veryfast"
    strength: float | None = None


class _Withdrawn(Exception):
    """What the gate allowed no longer holds: ``code`` names what changed, ``codes`` and ``reasons`` say how."""

    def __init__(self, code: str, codes: list[str], reasons: list[str], *, policy_version: str | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.code = code
        self.codes = codes
        self.reasons = reasons
        self.policy_version = policy_version
        self.stage: str | None = None


_WITHDRAWN = {
    "consent_withdrawn": "consent no longer covers this generation",
    "partner_suspended": "the partner is suspended",
    "partner_removed": "the partner is no longer registered",
    "policy_denied": "the policy in force now refuses this generation",
}


class _LeaseLost(Exception):
    pass


class GenerationWorker:
    """Everything one worker process needs, built once and handed to the queue."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        blobs: BlobStore,
        registry: ConsentService,
        generator: Generator,
        identity: ProvenanceIdentity,
        repository: ManifestRepository,
        audit: AuditSink,
        partners: PartnerService,
        policies: Callable[[], PolicySet],
        release_settings: ReleaseSettings = ReleaseSettings(),
        name: str | None = None,
        lease_s: float = LEASE_S,
        max_input_bytes: int | None = None,
    ) -> None:
        self.jobs = jobs
        self.blobs = blobs
        self.registry = registry
        self.partners = partners
        self.policies = policies
        self.max_input_bytes = max_input_bytes
        self.generator = generator
        self.identity = identity
        self.repository = repository
        self.audit = audit
        self.release_settings = release_settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_s = lease_s

    # ------------------------------------------------------------------ one job

    def run(self, job_id: str) -> str:
        """Run the job if nobody else holds it; returns the status it ended in (or ``skipped``)."""
        job = self.jobs.claim(job_id, worker=self.name, lease_s=self.lease_s)
        if job is None:
            return "skipped"
        started = time.perf_counter()
        try:
            self._recheck(job, stage="before_generation")
            released = self._adopt(job) or self._generate_and_release(job)
            self._recheck(job, stage="before_delivery")
        except _Withdrawn as withdrawn:
            self.blobs.drop_output(job.id)
            if self.jobs.finish(job, JobStatus.CANCELLED, error_code=withdrawn.code,
                                error=f"{_WITHDRAWN[withdrawn.code]}: {withdrawn}"[:500]):
                extra = {} if withdrawn.policy_version is None else {"current_policy_version": withdrawn.policy_version}
                self.audit(AuditKind.GENERATION_CANCELLED, **self._facts(job), error_code=withdrawn.code,
                           reasons=withdrawn.codes, stage=withdrawn.stage, **extra)
                self.blobs.drop_inputs(job.id)
            return JobStatus.CANCELLED
        except InputTamperedError as tampered:
            logger.warning("job %s: the stored %s is not the file the gate checked; the job fails", job.id,
                           tampered.role)
            self.blobs.drop_output(job.id)
            if self.jobs.finish(job, JobStatus.FAILED, error_code=InputTamperedError.code, error=str(tampered)[:500]):
                self.audit(AuditKind.GENERATION_FAILED, **self._facts(job), error=InputTamperedError.code,
                           error_code=InputTamperedError.code, role=tampered.role,
                           expected_sha256=tampered.expected_sha256, found_sha256=tampered.found_sha256)
                self.blobs.drop_inputs(job.id)
            return JobStatus.FAILED
        except _LeaseLost:
            logger.warning("job %s: lease lost to another attempt; this attempt stops", job.id)
            return "superseded"
        except LikenessError as exc:  # the inputs cannot be generated from, or release refused: final
            if self.jobs.finish(job, JobStatus.FAILED, error_code=type(exc).__name__, error=str(exc)[:500]):
                self.audit(AuditKind.GENERATION_FAILED, **self._facts(job), error=type(exc).__name__,
                           message=str(exc)[:300])
                self.blobs.drop_inputs(job.id)
            return JobStatus.FAILED
        except Exception as exc:  # unexpected (bug, resource): give the job back for another attempt
            logger.exception("job %s: attempt %d failed unexpectedly", job.id, job.attempts)
            self.jobs.give_back(job, error=f"attempt {job.attempts}: {type(exc).__name__}")
            current = self.jobs.get(job.id)
            if current is not None and current.status == JobStatus.FAILED:
                self.audit(AuditKind.GENERATION_FAILED, **self._facts(job), error="attempts_exhausted")
                self.blobs.drop_inputs(job.id)
            raise
        digest, size = released
        manifest = self.repository.by_generation_id(job.id)
        if not self.jobs.finish(job, JobStatus.RELEASED, output_sha256=digest, output_bytes=size,
                                watermark_id=f"{watermark_id_for(job.id):016x}",
                                manifest_id=None if manifest is None else manifest.manifest_id,
                                duration_s=None if manifest is None else manifest.duration_s):
            return "superseded"
        try:
            self.registry.record_generation(job.consent_id, generation_id=job.id, partner=job.partner_name,
                                            purpose=job.purpose, watermark_id=f"{watermark_id_for(job.id):016x}")
        except ConsentError:
            logger.exception("job %s: released, but the consent's generation list could not be updated", job.id)
        self.audit(AuditKind.GENERATION_RELEASED, **self._facts(job), output_sha256=digest, output_bytes=size,
                   watermark_id=f"{watermark_id_for(job.id):016x}",
                   manifest_id=None if manifest is None else manifest.manifest_id,
                   elapsed_s=round(time.perf_counter() - started, 3))
        self.blobs.drop_inputs(job.id)
        delete_if_withdrawn(job, jobs=self.jobs, blobs=self.blobs, registry=self.registry, audit=self.audit)
        return JobStatus.RELEASED

    def _facts(self, job: GenerationJob) -> dict[str, Any]:
        return {"generation_id": job.id, "partner_id": job.partner_id, "api_key_id": job.api_key_id,
                "consent_id": job.consent_id, "consent_revision": job.consent_revision, "purpose": job.purpose,
                "policy_version": job.policy_version, "attempt": job.attempts}

    def _recheck(self, job: GenerationJob, *, stage: str) -> None:
        """Everything the gate decided that can change since: the consent, the partner, the policy."""
        scope = self.registry.check_scope(job.consent_id, partner=job.partner_name, purpose=job.purpose)
        if not scope.covered:
            self._withdraw(job, _Withdrawn("consent_withdrawn", scope.codes, scope.reasons), stage=stage)
        try:
            partner = self.partners.get(job.partner_id)
        except UnknownPartnerError:
            self._withdraw(job, _Withdrawn("partner_removed", ["partner-removed"],
                                           ["the partner is no longer registered"]), stage=stage)
        if not partner.active:
            self._withdraw(job, _Withdrawn("partner_suspended", ["partner-suspended"], [
                f"the partner is {partner.status}: {partner.suspended_reason or 'no reason given'}"]), stage=stage)
        policies = self.policies()
        decision = redecide(job, partner=partner, consent=self.registry.get(job.consent_id), policies=policies,
                            now=self.jobs.now())
        if not decision.allowed:
            self._withdraw(job, _Withdrawn("policy_denied", list(decision.reason_ids),
                                           [r.text for r in decision.reasons],
                                           policy_version=decision.policy_version), stage=stage)

    def _withdraw(self, job: GenerationJob, withdrawn: _Withdrawn, *, stage: str) -> NoReturn:
        logger.info("job %s: %s %s (%s)", job.id, withdrawn.code, stage, ",".join(withdrawn.codes))
        withdrawn.stage = stage
        raise withdrawn

    def _adopt(self, job: GenerationJob) -> tuple[str, int] | None:
        """A previous attempt's video, if it was fully released (file + manifest record + hash agree)."""
        dest = self.blobs.output_path(job.id)
        if self.blobs.drop_partials(job.id):
            logger.info("job %s: removed the temporary files of an interrupted attempt", job.id)
        record = self.repository.by_generation_id(job.id)
        if record is None:
            if dest.exists():  # renamed but never recorded: not released; start over
                dest.unlink()
            return None
        if not dest.exists():
            return None
        digest, size = _sha256(dest)
        if digest != record.output_sha256:
            dest.unlink()
            return None
        logger.info("job %s: adopting the video released by a previous attempt", job.id)
        return digest, size

    def _generate_and_release(self, job: GenerationJob) -> tuple[str, int]:
        # the bytes the gate hashed, or InputTamperedError; decoded from memory, never re-read from disk
        portrait_data = self.blobs.read_verified(job.id, role="portrait", sha256=job.portrait_sha256,
                                                 max_bytes=self.max_input_bytes)
        audio_data = self.blobs.read_verified(job.id, role="audio", sha256=job.audio_sha256,
                                              max_bytes=self.max_input_bytes)
        portrait = SANDBOX.read_image(portrait_data)
        audio = SANDBOX.read_audio(audio_data)
        controls = Controls(**job.controls) if job.controls else Controls()
        generation = self.generator.prepare(portrait, audio, controls=controls, transcript=job.transcript)
        consent = self.registry.get(job.consent_id)
        claim = GenerationClaim(
            generation_id=job.id,
            watermark_id=watermark_id_for(job.id),
            watermark_alg="",
            policy_version=job.policy_version,
            consent_ref_sha256=consent.head_hash,
            consent_self_attested=False,
            inputs=[
                InputRef(role="portrait", sha256=job.portrait_sha256, mime=job.portrait_mime),
                InputRef(role="audio", sha256=job.audio_sha256, mime=job.audio_mime),
            ],
            generator_name=f"likeness-generator-{self.generator.name}",
            generator_version=self.generator.version,
            title="Likeness generation",
        )
        frames = self._guarded(job, generation.frames())
        rs = self.release_settings
        released = release(frames, fps=round(generation.fps), audio=generation.audio, claim=claim,
                           identity=self.identity, repository=self.repository, dest=self.blobs.output_dest(job.id),
                           crf=rs.crf, preset=rs.preset, strength=rs.strength, mode=0o600)
        return released.sha256, released.bytes

    def _guarded(self, job: GenerationJob, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """The frames, renewing the lease as they go and stopping if the consent is withdrawn meanwhile."""
        for index, frame in enumerate(frames):
            if index and index % RENEW_EVERY_FRAMES == 0:
                if not self.jobs.renew(job, lease_s=self.lease_s):
                    raise _LeaseLost()
                self._recheck(job, stage="during_generation")
            yield frame
        self._recheck(job, stage="before_release")

    # ------------------------------------------------------------------ recovery

    def recover(self, enqueue: Callable[[str], Any], *, queued_for: timedelta = timedelta(seconds=60)) -> int:
        """Hand lost jobs to the queue again; fail those that ran out of attempts. Returns how many moved.

        Also deletes any released video still stored under a revoked or erased consent
        (:func:`generations.retention.sweep_withdrawn`).
        """
        again, dead = self.jobs.stale(queued_for=queued_for)
        for job_id in dead:
            job = self.jobs.get(job_id)
            if job is not None:
                self.audit(AuditKind.GENERATION_FAILED, **self._facts(job), error=job.error_code or "worker_lost")
                self.blobs.drop_inputs(job_id)
        for job_id in again:
            enqueue(job_id)
        if again or dead:
            logger.info("recovery: %d job(s) queued again, %d failed", len(again), len(dead))
        try:
            sweep_withdrawn(jobs=self.jobs, blobs=self.blobs, registry=self.registry, audit=self.audit)
        except LikenessError:
            logger.exception("recovery: the sweep for videos of withdrawn consents failed; trying again later")
        return len(again) + len(dead)


def _sha256(path: Any) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


__all__ = ["LEASE_S", "GenerationWorker", "ReleaseSettings"]
