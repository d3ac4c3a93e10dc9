"""The partner API, ``/v1``: routes that map HTTP onto the gate, the jobs table and the released files.

Every route authenticates the partner's API key (``Authorization: Bearer lk_…``), checks the
key's scope, counts the request against the partner's rate, and reads only the partner's own
jobs: another partner's job id answers 404, exactly like an id that does not exist.

    POST /v1/generations                 portrait + audio + consent id + purpose (+ controls) → 202 job
    GET  /v1/generations                 the partner's own jobs, newest first
    GET  /v1/generations/{id}            one job: status, decision, ids and hashes
    GET  /v1/generations/{id}/video      the marked, signed MP4 (once released, while the consent stands)
    POST /v1/consents/{id}/check         does this consent cover us for this purpose? (no generation)
    GET  /v1/me                          the partner, its use cases, quota and rate
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from gateway.runtime import Runtime
from generations import GenerationJob, GenerationRequest, JobStatus, MediaUpload, Refusal
from likeness import LikenessError
from partners import AuthenticatedPartner

logger = logging.getLogger("likeness.http")

_ID = r"^gen_[0-9a-f]{16}$"
_CONSENT = r"^cns_[0-9a-f]{32}$"
_PURPOSE = r"^[a-z][a-z0-9_-]{0,63}$"


# ---------------------------------------------------------------------- shapes


class ReasonOut(BaseModel):
    id: str = Field(description="the id of the policy (or check) that decided")
    text: str = Field(description="the same in words")


class DecisionOut(BaseModel):
    allowed: bool
    reasons: list[str] = Field(description="ids of the determining policies")
    policy_version: str


class GenerationOut(BaseModel):
    """A generation job as its partner sees it."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "id": "gen_0123456789abcdef", "status": "released", "consent_id": "cns_" + "0" * 32, "purpose": "education"}})

    id: str = Field(description="gen_ + 16 hex digits; also the watermark id in every frame")
    status: JobStatus
    consent_id: str
    consent_revision: int
    purpose: str
    controls: dict[str, Any]
    decision: DecisionOut
    attempts: int
    error_code: str | None = None
    error: str | None = None
    watermark_id: str | None = None
    manifest_id: str | None = None
    output_sha256: str | None = None
    output_bytes: int | None = None
    duration_s: float | None = None
    video_url: str | None = Field(default=None, description="where to download the MP4 once released")
    output_deleted_at: datetime | None = Field(default=None, description="when the released video was deleted from "
                                               "storage (its consent was revoked or its subject erased)")
    output_deleted_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class GenerationList(BaseModel):
    items: list[GenerationOut]
    next_before: datetime | None = Field(default=None, description="pass as ?before= for the next page")


class ConsentCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(pattern=_PURPOSE, description="what the generation would be for")


class ConsentCheckOut(BaseModel):
    consent_id: str
    revision: int
    status: str
    covered: bool
    reasons: list[ReasonOut]
    policy_version: str


class PartnerOut(BaseModel):
    id: str
    name: str
    use_cases: list[str]
    status: str
    quota: int
    quota_period_days: int
    quota_used: int
    rate_per_minute: int
    key_prefix: str
    scopes: list[str]


class ErrorBody(BaseModel):
    code: str
    message: str
    reasons: list[ReasonOut] = []
    policy_version: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503)
}


# ---------------------------------------------------------------------- dependencies


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


bearer = HTTPBearer(auto_error=False, scheme_name="PartnerKey",
                    description="A partner API key (lk_live_…), shown once by `likeness partners add`.")


def partner(request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> AuthenticatedPartner:
    """The partner behind the bearer key; counts the request against its rate."""
    checked = getattr(request.state, "partner", None)  # gateway/edge.py did both before the body was read
    if isinstance(checked, AuthenticatedPartner):
        return checked
    rt = runtime(request)
    if credentials is None or not credentials.credentials:
        raise Refusal("send the API key as 'Authorization: Bearer <key>'", status=401, code="unauthenticated")
    caller = rt.partners.authenticate(credentials.credentials.strip())
    rt.gate.count_request(caller)
    request.state.partner_id = caller.partner.id
    return caller


Caller = Annotated[AuthenticatedPartner, Depends(partner)]


def generator_controls(
    emotion: Annotated[Literal["neutral", "happy", "sad", "surprised", "angry"] | None, Form()] = None,
    gaze: Annotated[Literal["camera", "free"] | None, Form()] = None,
    intensity: Annotated[float | None, Form(ge=0.0, le=2.0)] = None,
    zoom: Annotated[float | None, Form(ge=0.8, le=1.25)] = None,
    still_head: Annotated[bool | None, Form()] = None,
    seed: Annotated[int | None, Form(ge=0, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """The generator's controls of a multipart request (a job's or a live session's); unset ones are None."""
    return {"emotion": emotion, "gaze": gaze, "intensity": intensity, "zoom": zoom, "still_head": still_head,
            "seed": seed}
Rt = Annotated[Runtime, Depends(runtime)]


def _out(job: GenerationJob) -> GenerationOut:
    decision = job.decision or {}
    return GenerationOut(
        id=job.id, status=JobStatus(job.status), consent_id=job.consent_id, consent_revision=job.consent_revision,
        purpose=job.purpose, controls=job.controls or {},
        decision=DecisionOut(allowed=bool(decision.get("allowed", True)), reasons=list(decision.get("reasons", [])),
                             policy_version=str(decision.get("policy_version", job.policy_version))),
        attempts=job.attempts, error_code=job.error_code, error=job.error, watermark_id=job.watermark_id,
        manifest_id=job.manifest_id, output_sha256=job.output_sha256, output_bytes=job.output_bytes,
        duration_s=job.duration_s,
        video_url=f"/v1/generations/{job.id}/video"
        if job.status == JobStatus.RELEASED and job.output_deleted_at is None else None,
        output_deleted_at=job.output_deleted_at, output_deleted_reason=job.output_deleted_reason,
        created_at=job.created_at, updated_at=job.updated_at, finished_at=job.finished_at,
    )


async def read_upload(upload: UploadFile, *, limit: int, role: str) -> MediaUpload:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise Refusal(f"the {role} file is larger than {limit} bytes", status=413, code=f"{role}_too_large")
    return MediaUpload(filename=upload.filename or role, data=data)


# ---------------------------------------------------------------------- routes

router = APIRouter(prefix="/v1", tags=["partner API"], responses=ERRORS)


@router.post("/generations", status_code=202, response_model=GenerationOut,
             responses={200: {"model": GenerationOut, "description": "an idempotent retry: the job made before"}})
async def create_generation(
    response: Response,
    rt: Rt,
    caller: Caller,
    portrait: Annotated[UploadFile, File(description="the portrait: JPEG, PNG or WebP, one face")],
    audio: Annotated[UploadFile, File(description="the speech: WAV, MP3, FLAC, Ogg, M4A, or a video's audio")],
    consent_id: Annotated[str, Form(pattern=_CONSENT, description="the consent of the person in the portrait")],
    purpose: Annotated[str, Form(pattern=_PURPOSE, description="one of the partner's declared use cases")],
    controls: Annotated[dict[str, Any], Depends(generator_controls)],
    transcript: Annotated[str | None, Form(max_length=2000, description="what the audio says (better lips)")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=r"^[\x21-\x7e]{1,200}$")] = None,
) -> GenerationOut:
    """Ask for a talking-face video of the consenting person. The gate checks the consent, matches
    the portrait to the consent's reference face and asks the policy; a refusal names the policies
    that decided. The job then runs in the background: poll it, then download the video."""
    caller.require("generations:write")
    limit = rt.settings.max_upload_bytes
    request = GenerationRequest(
        consent_id=consent_id, purpose=purpose,
        portrait=await read_upload(portrait, limit=limit, role="portrait"),
        audio=await read_upload(audio, limit=limit, role="audio"),
        controls=controls, transcript=transcript, idempotency_key=idempotency_key,
    )
    job, created = await _threaded(rt.gate.submit, caller, request)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/generations/{job.id}"
    return _out(job)


@router.get("/generations", response_model=GenerationList)
def list_generations(
    rt: Rt, caller: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[datetime | None, Query(description="only jobs created before this time")] = None,
    status: Annotated[Literal["queued", "running", "released", "cancelled", "failed"] | None, Query()] = None,
) -> GenerationList:
    """The partner's own jobs, newest first."""
    caller.require("generations:read")
    jobs = rt.jobs.list_for(caller.partner.id, limit=limit, before=before, status=status)
    return GenerationList(items=[_out(j) for j in jobs],
                          next_before=jobs[-1].created_at if len(jobs) == limit else None)


def _own(rt: Runtime, caller: AuthenticatedPartner, generation_id: str) -> GenerationJob:
    job = rt.jobs.get_for(generation_id, partner_id=caller.partner.id)
    if job is None:
        raise Refusal(f"no generation {generation_id} of yours", status=404, code="not_found")
    return job


@router.get("/generations/{generation_id}", response_model=GenerationOut)
def get_generation(rt: Rt, caller: Caller,
                   generation_id: Annotated[str, PathParam(pattern=_ID)]) -> GenerationOut:
    """One of the partner's jobs."""
    caller.require("generations:read")
    return _out(_own(rt, caller, generation_id))


@router.get("/generations/{generation_id}/video", response_class=FileResponse,
            responses={200: {"content": {"video/mp4": {}}, "description": "the marked, signed MP4"}})
def download_video(rt: Rt, caller: Caller, generation_id: Annotated[str, PathParam(pattern=_ID)]) -> FileResponse:
    """The released video. Refused while the job runs (409), and once the consent no longer covers it (410)."""
    caller.require("generations:read")
    job = _own(rt, caller, generation_id)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise Refusal(f"generation {job.id} is {job.status}; poll until it is released", status=409,
                      code="not_ready")
    if job.status != JobStatus.RELEASED:
        raise Refusal(f"generation {job.id} was {job.status}: there is no video", status=410, code=str(job.status))
    if job.output_deleted_at is not None:
        raise Refusal(f"the video of {job.id} was deleted ({job.output_deleted_reason})", status=410,
                      code="output_deleted")
    scope = rt.registry.check_scope(job.consent_id, partner=caller.partner.name, purpose=job.purpose)
    if not scope.covered:
        raise Refusal("the consent no longer covers this video: " + "; ".join(scope.reasons), status=410,
                      code="consent_withdrawn")
    path = rt.blobs.output_path(job.id)
    if not path.exists():
        raise Refusal(f"the video of {job.id} is no longer stored", status=410, code="gone")
    return FileResponse(path, media_type="video/mp4", filename=f"{job.id}.mp4",
                        headers={"Cache-Control": "no-store", "X-Content-SHA256": job.output_sha256 or ""})


@router.post("/consents/{consent_id}/check", response_model=ConsentCheckOut)
def check_consent(rt: Rt, caller: Caller, consent_id: Annotated[str, PathParam(pattern=_CONSENT)],
                  body: ConsentCheckIn) -> ConsentCheckOut:
    """Whether the consent covers this partner for this purpose now: the policy's decision, without generating."""
    caller.require("consents:check")
    checked = rt.gate.check_consent(caller, consent_id=consent_id, purpose=body.purpose)
    d = checked.decision
    return ConsentCheckOut(consent_id=checked.consent.id, revision=checked.consent.revision,
                           status=str(checked.consent.status), covered=d.allowed,
                           reasons=[ReasonOut(id=r.id, text=r.text) for r in d.reasons],
                           policy_version=d.policy_version)


@router.get("/me", response_model=PartnerOut)
def me(rt: Rt, caller: Caller) -> PartnerOut:
    """The calling partner, its declared use cases, its quota and what is left of it."""
    p = caller.partner
    used, _ = rt.jobs.quota_used(p.id, period=p.quota_period)
    return PartnerOut(id=p.id, name=p.name, use_cases=list(p.use_cases), status=p.status, quota=p.quota,
                      quota_period_days=p.quota_period_days, quota_used=used, rate_per_minute=p.rate_per_minute,
                      key_prefix=caller.key_prefix, scopes=sorted(caller.scopes))


async def _threaded(fn: Any, *args: Any) -> Any:
    """Run blocking work (decoding, face matching, the database) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def error_body(exc: LikenessError) -> dict[str, Any]:
    reasons = [{"id": r.id, "text": r.text} for r in getattr(exc, "reasons", ())]
    code = getattr(exc, "code", None) or _snake(type(exc).__name__)
    return {"error": {"code": code, "message": str(exc), "reasons": reasons,
                      "policy_version": getattr(exc, "policy_version", None)}}


def error_response(exc: LikenessError, *, request_id: str = "-") -> JSONResponse:
    """The JSON error answer for ``exc``, with Retry-After and WWW-Authenticate where they apply (5xx are logged)."""
    headers = {}
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        headers["Retry-After"] = str(retry)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    status = exc.http_status if 400 <= exc.http_status < 600 else 500
    if status >= 500:
        logger.error("request %s failed: %s: %s", request_id, type(exc).__name__, exc)
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out.removesuffix("_error")


__all__ = ["ERRORS", "DecisionOut", "error_body", "error_response", "generator_controls", "partner", "read_upload",
           "router", "runtime"]
