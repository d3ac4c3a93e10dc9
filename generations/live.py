"""A live session's work in the server that holds its stream: render, mark, sign, and close it like a job.

:class:`LiveSessionRunner` is the blocking half of a session (the WebSocket half is
``gateway/sessions_api.py``): speech in, signed segments out, through the live generator
(``generator/live.py``) and the live release (``provenance.live.LiveRelease``: every frame is
marked when it is rendered, every segment signed and self-checked before it is returned). It is
driven by one task at a time (not thread-safe) and run off the event loop.

::

    connect ─▶ LiveSessionRunner.start(): the portrait the gate hashed (read back verified), its rig
    feed(pcm) ─▶ frames ─▶ LiveRelease.add_frame (marked) ─▶ segments (signed) ─▶ sent by the caller
    recheck() every 0.25 s ─▶ what the gate allowed still holds? (consent, partner, policy, quota)
    close(reason):
        allowed to end (client end, max length, idle, disconnect, bad message)
            ─▶ rest rendered ─▶ the recording released (provenance.release) ─▶ job released
        withdrawn (consent, partner, policy, quota) or failed
            ─▶ abandoned: no recording, job cancelled / failed
        ─▶ the subject's consent lists the session (kind ``live``) ─▶ audit ``session.closed`` with
           the segments' hash chain

Nothing here writes video but :class:`~provenance.LiveRelease`, so no frame leaves unmarked.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit import AuditKind, AuditSink
from consent import ConsentError, ConsentService
from generations.gate import redecide
from generations.jobs import JobStore
from generations.models import GenerationJob, JobStatus
from generations.retention import delete_if_withdrawn
from generations.sessions import SessionClose, SessionStore
from generations.storage import BlobStore
from generator import Controls, Generator, LiveSession
from likeness import LikenessError
from media import Sandbox
from partners import PartnerService, UnknownPartnerError
from policy import PolicySet
from provenance import (
    GenerationClaim,
    InputRef,
    LiveRelease,
    LiveSegment,
    ManifestRepository,
    ProvenanceIdentity,
    segment_chain,
    watermark_id_for,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
LOOKAHEAD_S = 0.12
FPS = 25
LEASE_S, LEASE_RENEW_S = 60.0, 10.0  # the job's lease while it streams (recovery fails it once it lapses)

# endings that keep what was rendered (the recording is released), and those that throw it away
KEEPS_RECORDING = frozenset({"client_ended", "ended_by_partner", "max_length", "client_disconnected", "idle",
                             "client_not_reading", "bad_message", "message_too_large", "server_shutdown"})
WITHDRAWN = frozenset({"consent_withdrawn", "partner_suspended", "partner_removed", "policy_denied",
                       "quota_exhausted"})

SANDBOX = Sandbox()


@dataclass(frozen=True)
class LiveSettings:
    """What every session of a server shares."""

    repository: ManifestRepository
    identity: ProvenanceIdentity
    work_dir: Path
    crf: int = 20
    preset: str = "veryfast"
    consent_self_attested: bool = False  # `likeness demo --live`: the operator's own consent; manifests say so


@dataclass
class Closed:
    """How a session ended, for the client's ``ended`` event."""

    reason: str
    status: str
    message: str
    segments: int
    frames: int
    audio_seconds: float
    chain_head: str | None
    video_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LiveSessionRunner:
    """One session's rendering and release; see the module's docstring."""

    def __init__(self, job: GenerationJob, *, generator: Generator, settings: LiveSettings, jobs: JobStore,
                 sessions: SessionStore, blobs: BlobStore, registry: ConsentService, partners: PartnerService,
                 policies: PolicySet, audit: AuditSink, segment_seconds: float, max_seconds: float,
                 server: str) -> None:
        self.job = job
        self.generator = generator
        self.settings = settings
        self.jobs, self.sessions, self.blobs = jobs, sessions, blobs
        self.registry, self.partners, self.policies, self.audit = registry, partners, policies, audit
        self.segment_seconds, self.max_seconds, self.server = segment_seconds, max_seconds, server
        self._stream: LiveSession | None = None
        self._release: LiveRelease | None = None
        self._audio_sha = hashlib.sha256()
        self._samples = 0
        self._segment_sha256s: list[str] = []
        self._started_at = time.time()
        self._renewed = 0.0
        self._closing = threading.Lock()
        self.closed: Closed | None = None

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Read back the portrait the gate checked, build its rig and open the live release."""
        job = self.job
        data = self.blobs.read_verified(job.id, role="portrait", sha256=job.portrait_sha256)
        portrait = SANDBOX.read_image(data)
        controls = Controls(**job.controls) if job.controls else Controls()
        self._stream = self.generator.live(portrait, controls=controls, fps=FPS, lookahead_s=LOOKAHEAD_S,
                                           max_seconds=self.max_seconds + 1)
        consent = self.registry.get(job.consent_id)
        claim = GenerationClaim(
            generation_id=job.id, watermark_id=watermark_id_for(job.id), watermark_alg="",
            policy_version=job.policy_version, consent_ref_sha256=consent.head_hash,
            consent_self_attested=self.settings.consent_self_attested,
            inputs=[InputRef(role="portrait", sha256=job.portrait_sha256, mime=job.portrait_mime)],
            generator_name=f"likeness-generator-{self.generator.name}", generator_version=self.generator.version,
            title="Likeness live session",
        )
        s = self.settings
        self._release = LiveRelease(claim=claim, identity=s.identity, work_dir=s.work_dir, fps=FPS,
                                    sample_rate=SAMPLE_RATE, segment_seconds=self.segment_seconds,
                                    stream_id=f"urn:likeness:session:{job.id}", first_segment_frames=1,
                                    crf=s.crf, preset=s.preset)

    # ------------------------------------------------------------------ streaming

    @property
    def audio_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[LiveSegment]:
        """Speech (float32 mono at 16 kHz) in; the segments it completes out (marked, signed, checked)."""
        stream, live = self._open()
        self._audio_sha.update(np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
        self._samples += samples.size
        live.add_audio(samples)
        return self._segments(live, stream.feed(samples))

    def _segments(self, live: LiveRelease, frames: list[np.ndarray]) -> list[LiveSegment]:
        out = []
        for frame in frames:
            segment = live.add_frame(frame)
            if segment is not None:
                out.append(segment)
        for segment in out:
            self._segment_sha256s.append(segment.sha256)
        return out

    def drain(self) -> list[LiveSegment]:
        """The speech is over: the frames of the look-ahead and the last (shorter) segment."""
        stream, live = self._open()
        out = self._segments(live, stream.finish())
        last = live.flush()
        if last is not None:
            self._segment_sha256s.append(last.sha256)
            out.append(last)
        return out

    def _open(self) -> tuple[LiveSession, LiveRelease]:
        if self._stream is None or self._release is None:
            raise RuntimeError("the live session was not started")
        return self._stream, self._release

    # ------------------------------------------------------------------ what the gate allowed, again

    def recheck(self) -> tuple[str, str] | None:
        """``(reason, words)`` if what the gate allowed no longer holds, else None; renews the job's lease."""
        job = self.job
        scope = self.registry.check_scope(job.consent_id, partner=job.partner_name, purpose=job.purpose)
        if not scope.covered:
            return "consent_withdrawn", "; ".join(scope.reasons) or "the consent no longer covers this session"
        try:
            partner = self.partners.get(job.partner_id)
        except UnknownPartnerError:
            return "partner_removed", "the partner is no longer registered"
        if not partner.active:
            return "partner_suspended", f"the partner is {partner.status}"
        decision = redecide(job, partner=partner, consent=self.registry.get(job.consent_id), policies=self.policies,
                            now=self.jobs.now())
        if not decision.allowed:
            return "policy_denied", "; ".join(r.text for r in decision.reasons)
        used, _ = self.jobs.quota_used(partner.id, period=partner.quota_period)
        if used > partner.quota:
            return "quota_exhausted", f"the partner's quota ({partner.quota}) is below what it has used ({used})"
        if time.monotonic() - self._renewed > LEASE_RENEW_S:
            self.jobs.renew(job, lease_s=LEASE_S)
            self._renewed = time.monotonic()
        return None

    # ------------------------------------------------------------------ the end

    def close(self, reason: str, *, message: str = "") -> Closed:
        """End the session: release the recording or abandon it (see the module's docstring). Idempotent, and
        safe from two threads: a second caller waits for the first's close and gets its result."""
        with self._closing:
            if self.closed is None:
                self.closed = self._close(reason, message=message)
            return self.closed

    def _close(self, reason: str, *, message: str) -> Closed:
        live = self._release
        segments = live.segments if live is not None else 0
        frames = live.frames if live is not None else 0
        status, video_url, chain_head = JobStatus.CANCELLED, None, None
        extra: dict[str, Any] = {}
        try:
            if reason in KEEPS_RECORDING and live is not None and frames > 0:
                status, chain_head, extra = self._release_recording(live)
                video_url = f"/v1/generations/{self.job.id}/video"
            else:
                if live is not None:
                    live.abandon()
                status = JobStatus.FAILED if reason == "internal_error" else JobStatus.CANCELLED
                code = reason if reason in WITHDRAWN or reason == "internal_error" else "empty_session"
                if self.jobs.finish(self.job, status, error_code=code, error=(message or reason)[:500]):
                    kind = AuditKind.GENERATION_FAILED if status == JobStatus.FAILED \
                        else AuditKind.GENERATION_CANCELLED
                    self.audit(kind, **self._facts(), error_code=code, reasons=[code], stage="live_session")
        except LikenessError as exc:
            logger.exception("live session %s: the recording could not be released", self.job.id)
            if live is not None:
                live.abandon()
            status, video_url, chain_head = JobStatus.FAILED, None, None
            if self.jobs.finish(self.job, JobStatus.FAILED, error_code=type(exc).__name__, error=str(exc)[:500]):
                self.audit(AuditKind.GENERATION_FAILED, **self._facts(), error=type(exc).__name__,
                           message=str(exc)[:300])
        if chain_head is None and self._segment_sha256s:
            chain_head = segment_chain(f"urn:likeness:session:{self.job.id}", self._segment_sha256s)[-1]
        self.blobs.drop_inputs(self.job.id)
        if segments:
            self._record_on_consent(kept=status == JobStatus.RELEASED, reason=reason)
        outcome = SessionClose(reason=reason, segments=segments, frames=frames, audio_seconds=self.audio_seconds,
                               chain_head=chain_head)
        self.sessions.close(self.job.id, outcome=outcome)
        self.audit(AuditKind.SESSION_CLOSED, **self._facts(), reason=reason, status=str(status), segments=segments,
                   frames=frames, audio_seconds=round(self.audio_seconds, 3),
                   audio_sha256=self._audio_sha.hexdigest(), chain_head=chain_head,
                   segment_sha256s=self._segment_sha256s[:16], server=self.server,
                   seconds_open=round(time.time() - self._started_at, 3), **extra)
        return Closed(reason=reason, status=str(status), message=message, segments=segments, frames=frames,
                      audio_seconds=round(self.audio_seconds, 3), chain_head=chain_head, video_url=video_url)

    def _release_recording(self, live: LiveRelease) -> tuple[JobStatus, str, dict[str, Any]]:
        job = self.job
        recording = live.finish(repository=self.settings.repository, dest=self.blobs.output_dest(job.id), mode=0o600)
        released = recording.released
        watermark = f"{watermark_id_for(job.id):016x}"
        manifest = self.settings.repository.by_generation_id(job.id)
        if not self.jobs.finish(job, JobStatus.RELEASED, output_sha256=released.sha256, output_bytes=released.bytes,
                                watermark_id=watermark, audio_sha256=self._audio_sha.hexdigest(),
                                manifest_id=None if manifest is None else manifest.manifest_id,
                                duration_s=None if manifest is None else manifest.duration_s):
            logger.warning("live session %s: the job was closed meanwhile (recovery?)", job.id)
        self.audit(AuditKind.GENERATION_RELEASED, **self._facts(), output_sha256=released.sha256,
                   output_bytes=released.bytes, watermark_id=watermark,
                   manifest_id=None if manifest is None else manifest.manifest_id)
        delete_if_withdrawn(job, jobs=self.jobs, blobs=self.blobs, registry=self.registry, audit=self.audit)
        return JobStatus.RELEASED, recording.chain_head, {"recording_sha256": released.sha256}

    def _record_on_consent(self, *, kept: bool, reason: str) -> None:
        """The subject sees every session that streamed their face, and whether its recording was kept."""
        job = self.job
        try:
            self.registry.record_generation(job.consent_id, generation_id=job.id, partner=job.partner_name,
                                            purpose=job.purpose, watermark_id=f"{watermark_id_for(job.id):016x}",
                                            kind="live")
            if not kept:
                self.registry.record_outputs_deleted(job.consent_id, generation_ids=[job.id],
                                                     reason=f"live session stopped ({reason}): no recording kept")
        except ConsentError:
            logger.exception("live session %s: the consent's list of uses could not be updated", job.id)

    def _facts(self) -> dict[str, Any]:
        job = self.job
        return {"generation_id": job.id, "partner_id": job.partner_id, "api_key_id": job.api_key_id,
                "consent_id": job.consent_id, "consent_revision": job.consent_revision, "purpose": job.purpose,
                "policy_version": job.policy_version}


__all__ = ["FPS", "KEEPS_RECORDING", "LOOKAHEAD_S", "SAMPLE_RATE", "WITHDRAWN", "Closed", "LiveSessionRunner",
           "LiveSettings"]
