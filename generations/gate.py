"""The gate: every check a generation request passes before a job exists, in order, each one logged.

::

    media (sniff, limits, decodes)  ─▶ consent (exists, signed; status and scope)
      ─▶ identity (only when the consent covers the request: no biometrics are processed otherwise)
      ─▶ quota ─▶ policy.decide() ─▶ audit "generation.decided" ─▶ job + inputs ─▶ queue

A refusal is a :class:`Refusal` with the policy's reasons (ids and words) and the policy
version; it is written to the audit log like an acceptance. A consent that does not name the
calling partner (neither in its partners nor "any vetted partner"), or whose grant is not in the
audit log (inserted into the database outside the logged paths), answers exactly like a consent
that does not exist (404 ``consent_unknown``): a partner learns nothing of other partners'
consents. Routes (``gateway.api``) only map HTTP to these calls.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit import AuditKind, AuditSink
from consent import ConsentPublic, ConsentService, ReferenceUnavailableError, UnknownConsentError
from consent.errors import ConsentInactiveError
from faces import IdentityBackend, require_calibration
from faces.errors import FaceTooSmallError, MultipleFacesError, NoFaceError
from generations.errors import QuotaExceeded, Refusal
from generations.jobs import JobCreate, JobStore
from generations.models import GenerationJob, LiveSessionRow
from generations.queue import JobQueue
from generations.sessions import SessionCreate, SessionStore, new_session_token
from generations.storage import BlobStore
from generator import Controls, GeneratorError
from likeness import LikenessError
from media import Limits, MediaError, MediaTooLargeError, Sandbox, sniff_bytes
from partners import AuthenticatedPartner, PartnerPublic, RateLimiter
from policy import (
    Action,
    ConsentFacts,
    Decision,
    IdentityFacts,
    PartnerFacts,
    PolicyRequest,
    PolicySet,
    QuotaFacts,
    Reason,
    decide,
)
from provenance import generation_id_for, new_watermark_id

logger = logging.getLogger(__name__)


LIVE_AUDIO_MIME = "audio/L16;rate=16000"  # a live session's streamed speech (RFC 2586 linear PCM)

# Uploads are decoded in a confined child: a decoder crash, a bomb or a hang refuses one request.
SANDBOX = Sandbox()


@dataclass(frozen=True)
class MediaUpload:
    """One uploaded file, already bounded in size by the server."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class GenerationRequest:
    consent_id: str
    purpose: str
    portrait: MediaUpload
    audio: MediaUpload
    controls: dict[str, Any] = field(default_factory=dict)
    transcript: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SessionRequest:
    """A live session's opening: the job's request without the audio, which is streamed."""

    consent_id: str
    purpose: str
    portrait: MediaUpload
    max_seconds: float
    segment_seconds: float
    token_ttl_s: float
    controls: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedSession:
    job: GenerationJob
    session: LiveSessionRow
    token: str = field(repr=False)


@dataclass(frozen=True)
class ConsentCheck:
    decision: Decision
    consent: ConsentPublic


class Gate:
    def __init__(
        self,
        *,
        jobs: JobStore,
        rates: RateLimiter,
        blobs: BlobStore,
        registry: ConsentService,
        identity: IdentityBackend,
        policies: PolicySet,
        queue: JobQueue,
        audit: AuditSink,
        max_media_seconds: float,
        max_upload_bytes: int,
        grant_logged: Callable[[ConsentPublic], bool],
        sessions: SessionStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.jobs = jobs
        self.rates = rates
        self.blobs = blobs
        self.registry = registry
        self.identity = identity
        self.policies = policies
        self.queue = queue
        self.audit = audit
        self.max_media_seconds = max_media_seconds
        self.max_upload_bytes = max_upload_bytes
        self.grant_logged = grant_logged  # whether the audit log holds the consent's grant (generations.crosscheck)
        self.sessions = sessions
        self.clock = clock

    # ------------------------------------------------------------------ rate limit

    def count_request(self, caller: AuthenticatedPartner) -> None:
        """One more request in the partner's minute; 429 with Retry-After beyond its rate."""
        count, retry_after = self.rates.hit(caller.partner.id, now=self.clock())
        if count > caller.partner.rate_per_minute:
            raise Refusal(f"rate limit: at most {caller.partner.rate_per_minute} requests a minute",
                          status=429, code="rate_limited", retry_after_s=retry_after)

    # ------------------------------------------------------------------ consent check (no generation)

    def check_consent(self, caller: AuthenticatedPartner, *, consent_id: str, purpose: str) -> ConsentCheck:
        consent = self._consent(caller, consent_id=consent_id, purpose=purpose, action=AuditKind.CONSENT_CHECKED)
        request = PolicyRequest(action=Action.CHECK_CONSENT, partner=partner_facts(caller.partner),
                                consent=consent_facts(consent), purpose=purpose, now=self.clock())
        decision = decide(request, policies=self.policies)
        self.audit(AuditKind.CONSENT_CHECKED, **_caller(caller), consent_id=consent.id,
                   consent_revision=consent.revision, consent_head=consent.head_hash, purpose=purpose,
                   **_decision(decision))
        return ConsentCheck(decision=decision, consent=consent)

    # ------------------------------------------------------------------ generation

    def submit(self, caller: AuthenticatedPartner, request: GenerationRequest) -> tuple[GenerationJob, bool]:
        """Decide, log and (when allowed) queue; returns the job and whether it was created now."""
        request_sha = _request_sha256(request)
        if request.idempotency_key is not None:
            existing = self.jobs.find_idempotent(caller.partner.id, key=request.idempotency_key)
            if existing is not None:
                if existing.request_sha256 != request_sha:
                    raise Refusal("this Idempotency-Key was already used for a different request", status=409,
                                  code="idempotency_conflict")
                return existing, False
        facts = {**_caller(caller), "consent_id": request.consent_id, "purpose": request.purpose,
                 "portrait_sha256": _sha(request.portrait.data), "audio_sha256": _sha(request.audio.data)}
        with self._refusal_logged(facts):
            portrait_kind, audio_kind, portrait_rgb = self._media(request)
            controls = _controls(request.controls)
        consent, decision, decided_on = self._decide(caller, consent_id=request.consent_id, purpose=request.purpose,
                                                     portrait_rgb=portrait_rgb, facts=facts)
        return self._accept(caller, request, consent=consent, decision=decision, controls=controls,
                            request_sha=request_sha, kinds=(portrait_kind, audio_kind), facts=facts,
                            decided_on=decided_on)

    def open_session(self, caller: AuthenticatedPartner, request: SessionRequest, *, server: str) -> OpenedSession:
        """The job's checks for a live session (portrait, consent, identity, quota, policy), all logged; when
        allowed, its ``live`` job (running, held by ``server`` until the token expires) and its token."""
        if self.sessions is None:
            raise Refusal("live sessions are not served here", status=404, code="not_found")
        facts = {**_caller(caller), "consent_id": request.consent_id, "purpose": request.purpose,
                 "portrait_sha256": _sha(request.portrait.data), "live": True}
        with self._refusal_logged(facts):
            portrait_kind, portrait_rgb = self._portrait(request.portrait)
            controls = _controls(request.controls)
        consent, decision, decided_on = self._decide(caller, consent_id=request.consent_id, purpose=request.purpose,
                                                     portrait_rgb=portrait_rgb, facts=facts)
        job_id = generation_id_for(new_watermark_id())
        self.blobs.put_input(job_id, name=f"portrait.{portrait_kind.value}", data=request.portrait.data)
        token = new_session_token()
        body = {"live": True, "consent_id": request.consent_id, "purpose": request.purpose,
                "portrait": facts["portrait_sha256"], "controls": controls, "nonce": _sha(token.encode())}
        try:
            job = self.jobs.create(JobCreate(
                id=job_id, partner_id=caller.partner.id, partner_name=caller.partner.name, api_key_id=caller.key_id,
                consent_id=consent.id, consent_revision=consent.revision, purpose=request.purpose,
                request_sha256=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
                portrait_sha256=facts["portrait_sha256"], audio_sha256=_sha(b""), portrait_mime=portrait_kind.mime_type,
                audio_mime=LIVE_AUDIO_MIME, policy_version=decision.policy_version, controls=controls,
                decision={"allowed": True, "reasons": [r.id for r in decision.reasons],
                          "policy_version": decision.policy_version, **_request_facts(decided_on)},
                live_server=server, live_lease_s=request.token_ttl_s + 30,
            ), quota_limit=caller.partner.quota, quota_period=caller.partner.quota_period)
            row = self.sessions.create(SessionCreate(
                id=job.id, partner_id=caller.partner.id, token=token, ttl_s=request.token_ttl_s,
                max_seconds=request.max_seconds, segment_seconds=request.segment_seconds))
        except QuotaExceeded as exc:
            raise self._quota_taken(job_id, exc, facts=facts, decision=decision) from exc
        except BaseException:
            self.blobs.drop_inputs(job_id)
            raise
        self.audit(AuditKind.SESSION_OPENED, **_caller(caller), generation_id=job.id, consent_id=consent.id,
                   purpose=request.purpose, token_expires_at=row.token_expires_at.isoformat(),
                   max_seconds=row.max_seconds, segment_seconds=row.segment_seconds, server=server)
        return OpenedSession(job=job, session=row, token=token)

    @contextmanager
    def _refusal_logged(self, facts: dict[str, Any]) -> Iterator[None]:
        """A refusal of the request's media or controls, written to the audit log as the decision."""
        try:
            yield
        except Refusal as refusal:
            self.audit(AuditKind.GENERATION_DECIDED, **facts, allowed=False, reasons=[refusal.code],
                       message=str(refusal)[:300])
            raise

    def _quota_taken(self, job_id: str, exc: QuotaExceeded, *, facts: dict[str, Any], decision: Decision) -> Refusal:
        """A request racing this one took the last unit of quota after the policy allowed it: logged, inputs dropped."""
        self.blobs.drop_inputs(job_id)
        self.audit(AuditKind.GENERATION_DECIDED, **facts, allowed=False, reasons=["quota-exhausted"],
                   message="a concurrent request took the last of the quota", policy_version=decision.policy_version)
        return Refusal(str(exc), status=429, code="quota_exhausted", policy_version=decision.policy_version,
                       reasons=(Reason("quota-exhausted", str(exc)),), retry_after_s=3600)

    def _decide(self, caller: AuthenticatedPartner, *, consent_id: str, purpose: str, portrait_rgb: Any,
                facts: dict[str, Any]) -> tuple[ConsentPublic, Decision, PolicyRequest]:
        """Consent, identity, quota and policy for a generation (a job or a live session); logged, and
        a :class:`Refusal` unless allowed."""
        consent = self._consent(caller, consent_id=consent_id, purpose=purpose,
                                action=AuditKind.GENERATION_DECIDED, facts=facts)
        now = self.clock()
        identity = self._identity(consent, portrait_rgb, facts=facts, partner=caller, purpose=purpose)
        used, frees_at = self.jobs.quota_used(caller.partner.id, period=caller.partner.quota_period)
        policy_request = PolicyRequest(
            action=Action.GENERATE, partner=partner_facts(caller.partner), consent=consent_facts(consent),
            purpose=purpose, now=now, identity=identity,
            quota=QuotaFacts(used=used, limit=caller.partner.quota))
        decision = decide(policy_request, policies=self.policies)
        scores = {} if identity is None else {"similarity": round(identity.similarity, 4),
                                              "threshold": round(identity.threshold, 4),
                                              "margin": None if identity.margin is None else round(identity.margin, 4)}
        self.audit(AuditKind.GENERATION_DECIDED, **facts, consent_revision=consent.revision,
                   consent_head=consent.head_hash, identity=scores, quota={"used": used, "limit": caller.partner.quota},
                   **_decision(decision))
        if not decision.allowed:
            only_quota = {r.id for r in decision.reasons} == {"quota-exhausted"}
            retry = None if frees_at is None else max(1, int((frees_at - now).total_seconds()))
            raise Refusal(_summary(decision), status=429 if only_quota else 403,
                          code="quota_exhausted" if only_quota else "policy_denied", reasons=decision.reasons,
                          policy_version=decision.policy_version, retry_after_s=retry if only_quota else None)
        return consent, decision, policy_request

    def _accept(self, caller: AuthenticatedPartner, request: GenerationRequest, *, consent: ConsentPublic,
                decision: Decision, controls: dict[str, Any], request_sha: str, kinds: tuple[Any, Any],
                facts: dict[str, Any], decided_on: PolicyRequest) -> tuple[GenerationJob, bool]:
        job_id = generation_id_for(new_watermark_id())
        portrait_kind, audio_kind = kinds
        self.blobs.put_input(job_id, name=f"portrait.{portrait_kind.value}", data=request.portrait.data)
        self.blobs.put_input(job_id, name=f"audio.{audio_kind.value}", data=request.audio.data)
        try:
            job = self.jobs.create(JobCreate(
                id=job_id, partner_id=caller.partner.id, partner_name=caller.partner.name, api_key_id=caller.key_id,
                consent_id=consent.id,
                consent_revision=consent.revision, purpose=request.purpose, request_sha256=request_sha,
                portrait_sha256=facts["portrait_sha256"], audio_sha256=facts["audio_sha256"],
                portrait_mime=portrait_kind.mime_type, audio_mime=audio_kind.mime_type,
                policy_version=decision.policy_version, idempotency_key=request.idempotency_key,
                controls=controls, transcript=request.transcript,
                decision={"allowed": True, "reasons": [r.id for r in decision.reasons],
                          "policy_version": decision.policy_version, **_request_facts(decided_on)},
            ), quota_limit=caller.partner.quota, quota_period=caller.partner.quota_period)
        except QuotaExceeded as exc:
            raise self._quota_taken(job_id, exc, facts=facts, decision=decision) from exc
        except BaseException:
            self.blobs.drop_inputs(job_id)
            raise
        if job.id != job_id:  # an idempotent twin won the race: keep its job, drop our copy
            self.blobs.drop_inputs(job_id)
            return job, False
        try:
            self.queue.enqueue(job.id)
        except LikenessError:  # the job is safe in the table; recovery queues it again
            logger.exception("job %s accepted but not queued; recovery will queue it", job.id)
        return job, True

    # ------------------------------------------------------------------ the checks

    def _media(self, request: GenerationRequest) -> tuple[Any, Any, Any]:
        portrait_kind, portrait = self._portrait(request.portrait)
        upload = request.audio
        if not upload.data:
            raise Refusal("the audio file is empty", status=422, code="audio_empty")
        if len(upload.data) > self.max_upload_bytes:
            raise Refusal(f"the audio file is larger than {self.max_upload_bytes} bytes", status=413,
                          code="audio_too_large")
        try:
            audio_kind = sniff_bytes(request.audio.data[:4096])
            if audio_kind.is_image:
                raise Refusal(f"the audio must be a sound file, not {audio_kind.description}", status=415,
                              code="audio_type")
            # the duration limit is checked from the header and while decoding: a long file is refused early
            limits = dataclasses.replace(Limits.audio(), max_duration_s=self.max_media_seconds)
            audio = SANDBOX.read_audio(request.audio.data, limits=limits)
        except MediaTooLargeError as exc:
            raise Refusal(f"the audio is too long or too large: {exc}", status=413, code="audio_too_long") from exc
        except MediaError as exc:
            raise Refusal(f"the audio could not be read: {exc}", status=422, code="audio_unreadable") from exc
        if audio.duration_s > self.max_media_seconds:
            raise Refusal(f"the audio lasts {audio.duration_s:.1f} s; at most {self.max_media_seconds:g} s "
                          "are accepted", status=413, code="audio_too_long")
        if audio.duration_s < 0.5:
            raise Refusal("the audio is shorter than half a second", status=422, code="audio_too_short")
        return portrait_kind, audio_kind, portrait

    def _portrait(self, upload: MediaUpload) -> tuple[Any, Any]:
        """The portrait's kind and RGB pixels (decoded in the sandbox), or the refusal that says what is wrong."""
        if not upload.data:
            raise Refusal("the portrait file is empty", status=422, code="portrait_empty")
        if len(upload.data) > self.max_upload_bytes:
            raise Refusal(f"the portrait file is larger than {self.max_upload_bytes} bytes", status=413,
                          code="portrait_too_large")
        try:
            portrait_kind = sniff_bytes(upload.data[:4096])
            if not portrait_kind.is_image:
                raise Refusal(f"the portrait must be a JPEG, PNG or WebP image, not {portrait_kind.description}",
                              status=415, code="portrait_type")
            return portrait_kind, SANDBOX.read_image(upload.data)
        except MediaTooLargeError as exc:
            raise Refusal(f"the portrait is too large: {exc}", status=413, code="portrait_too_large") from exc
        except MediaError as exc:
            raise Refusal(f"the portrait could not be read: {exc}", status=422, code="portrait_unreadable") from exc

    def _consent(self, caller: AuthenticatedPartner, *, consent_id: str, purpose: str, action: AuditKind,
                 facts: dict[str, Any] | None = None) -> ConsentPublic:
        base = facts or {**_caller(caller), "consent_id": consent_id, "purpose": purpose}
        try:
            consent = self.registry.get(consent_id)
        except UnknownConsentError as exc:
            self.audit(action, **base, allowed=False, reasons=["consent-unknown"])
            raise _unknown_consent(consent_id) from exc
        if not _names_partner(consent, caller.partner.name):
            # another partner's consent: answered exactly as an unknown one (no status, scope or revision leaks)
            self.audit(action, **base, allowed=False, reasons=["consent-not-for-partner"])
            raise _unknown_consent(consent_id)
        if not self.grant_logged(consent):
            logger.warning("consent %s has no logged grant in the audit log: refused "
                           "(run `likeness audit check-consents`)", consent.id)
            self.audit(action, **base, allowed=False, reasons=["consent-grant-not-logged"])
            raise _unknown_consent(consent_id)
        return consent

    def _identity(self, consent: ConsentPublic, portrait: Any, *, facts: dict[str, Any],
                  partner: AuthenticatedPartner, purpose: str) -> IdentityFacts | None:
        """The portrait scored against the consent's reference, only if the consent covers the request."""
        scope = self.registry.check_scope(consent.id, partner=partner.partner.name, purpose=purpose)
        if not scope.covered:
            return None  # policy denies on the consent's own facts; the face is not processed
        try:
            match = self.registry.score_portrait(consent.id, portrait_rgb=portrait)
        except (ConsentInactiveError, ReferenceUnavailableError):
            return None
        except (NoFaceError, MultipleFacesError, FaceTooSmallError) as exc:
            self.audit(AuditKind.GENERATION_DECIDED, **facts, allowed=False, reasons=["portrait-no-usable-face"],
                       message=str(exc)[:300])
            raise Refusal(f"the portrait cannot be matched: {exc}", status=422, code="portrait_face",
                          reasons=(Reason("portrait-no-usable-face", str(exc)),)) from exc
        calibration = require_calibration(self.identity)
        return IdentityFacts(similarity=match.similarity, threshold=match.threshold, margin=match.margin,
                             required_margin=calibration.min_margin)


def _unknown_consent(consent_id: str) -> Refusal:
    """The one refusal for a consent this partner may not know of: unknown, not naming it, or never logged."""
    return Refusal(f"no consent {consent_id!r} is registered", status=404, code="consent_unknown",
                   reasons=(Reason("consent-unknown", "no consent with this id is registered"),))


def _names_partner(consent: ConsentPublic, partner: str) -> bool:
    """Whether the consent names ``partner`` (by name) or allows any vetted partner."""
    partners = consent.scope.partners
    return partners == "any_vetted" if isinstance(partners, str) else partner in partners


def _controls(raw: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in raw.items() if v is not None}
    try:
        Controls(**values)
    except (GeneratorError, TypeError) as exc:
        raise Refusal(f"invalid generator controls: {exc}", status=422, code="controls_invalid") from exc
    return values


def partner_facts(partner: PartnerPublic) -> PartnerFacts:
    """The partner as ``policy.decide`` reads it."""
    return PartnerFacts(id=partner.id, name=partner.name, active=partner.active,
                        use_cases=tuple(partner.use_cases))


def consent_facts(consent: ConsentPublic) -> ConsentFacts:
    scope = consent.scope
    return ConsentFacts(
        id=consent.id, revision=consent.revision, status=str(consent.status),
        partners=scope.partners if isinstance(scope.partners, str) else tuple(scope.partners),
        purposes=scope.purposes if isinstance(scope.purposes, str) else tuple(scope.purposes),
        prohibited_purposes=tuple(scope.prohibited_purposes),
        valid_from=scope.valid_from or consent.created_at, valid_until=scope.valid_until)


def _request_facts(request: PolicyRequest) -> dict[str, Any]:
    """The facts of a generation decision that only the gate can establish (the identity match, the quota as
    it stood), kept on the job so the worker can ask the policy again before release (:func:`redecide`)."""
    facts: dict[str, Any] = {}
    if request.identity is not None:
        facts["identity"] = dataclasses.asdict(request.identity)
    if request.quota is not None:
        facts["quota"] = dataclasses.asdict(request.quota)
    return facts


def redecide(job: GenerationJob, *, partner: PartnerPublic, consent: ConsentPublic, policies: PolicySet,
             now: datetime) -> Decision:
    """The gate's decision for an accepted job, asked again with what can have changed since.

    The partner (suspended?), the consent (revoked, narrowed, expired?) and the policy set
    (``policies``, the current version) are read now; the identity match and the quota are the
    facts the gate established at acceptance (the portrait is not matched again, and the job's
    own unit of quota is already spent). A job accepted before those facts were kept is
    re-decided only when the policy version is the same: under a changed policy it is denied
    (``policy-changed``), since it cannot be shown to pass.
    """
    kept = job.decision or {}
    if "quota" not in kept:  # accepted before the facts were kept
        if policies.version != job.policy_version:
            return Decision(False, (Reason("policy-changed", "the policy changed since this job was accepted, and "
                                           "the facts it was accepted on were not kept"),), policies.version)
        return Decision(True, tuple(Reason(rid, "as decided at acceptance") for rid in kept.get("reasons", ())),
                        job.policy_version)
    identity = IdentityFacts(**kept["identity"]) if kept.get("identity") else None
    quota = QuotaFacts(**kept["quota"])
    request = PolicyRequest(action=Action.GENERATE, partner=partner_facts(partner), consent=consent_facts(consent),
                            purpose=job.purpose, now=now, identity=identity, quota=quota)
    return decide(request, policies=policies)


def _caller(caller: AuthenticatedPartner) -> dict[str, Any]:
    return {"partner_id": caller.partner.id, "api_key_id": caller.key_id}


def _decision(decision: Decision) -> dict[str, Any]:
    return {"allowed": decision.allowed, "reasons": [r.id for r in decision.reasons],
            "policy_version": decision.policy_version}


def _summary(decision: Decision) -> str:
    return "refused by policy: " + "; ".join(r.text for r in decision.reasons)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _request_sha256(request: GenerationRequest) -> str:
    body = {"consent_id": request.consent_id, "purpose": request.purpose, "portrait": _sha(request.portrait.data),
            "audio": _sha(request.audio.data), "controls": request.controls, "transcript": request.transcript}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


__all__ = ["LIVE_AUDIO_MIME", "ConsentCheck", "Gate", "GenerationRequest", "MediaUpload", "OpenedSession",
           "SessionRequest", "consent_facts", "partner_facts", "redecide"]
