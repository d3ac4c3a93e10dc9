"""Live sessions over HTTP and WebSocket: ``/v1/sessions`` (docs/sessions.md is the contract).

    POST /v1/sessions                  portrait + consent id + purpose (+ controls) → 201 session id + token
    GET  /v1/sessions/{id}             the session as it stands
    POST /v1/sessions/{id}/end         the partner's backend ends a running session
    WS   /v1/sessions/{id}/stream      session token in the handshake; speech in, signed segments out

The HTTP routes sit behind the partner key like every ``/v1`` route (``gateway/edge.py``). The
stream is authenticated by the session token alone, in the handshake (``Authorization: Bearer``
or the subprotocol ``token.<token>``), before the connection is accepted: a refusal is an HTTP
answer with the API's JSON error, not an accepted socket. :class:`Conversation` runs one
stream: a reader (messages, pacing, limits), a renderer (:class:`generations.live.LiveSessionRunner`
off the event loop) and a watcher (what the gate allowed, every 0.25 s).

>>> mse_type(b"....avcC\\x01\\x64\\x00\\x1f....")
'video/mp4; codecs="avc1.64001f, mp4a.40.2"'
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, WebSocket
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect, WebSocketState

from gateway.api import ERRORS, DecisionOut, error_response, generator_controls, partner, read_upload, runtime
from gateway.deps import provenance_identity
from gateway.runtime import SERVER_NAME, Runtime
from generations import GenerationJob, JobStatus, Refusal
from generations.gate import SessionRequest
from generations.live import FPS, LOOKAHEAD_S, SAMPLE_RATE, WITHDRAWN, Closed, LiveSessionRunner, LiveSettings
from generations.models import LiveSessionRow
from generator import Generator
from likeness import LikenessError
from partners import AuthenticatedPartner
from provenance import ManifestRepository

logger = logging.getLogger("likeness.live")

_ID = r"^gen_[0-9a-f]{16}$"
_CONSENT = r"^cns_[0-9a-f]{32}$"
_PURPOSE = r"^[a-z][a-z0-9_-]{0,63}$"
SUBPROTOCOL = "likeness.live.v1"
MAX_PCM_BYTES = 32_000  # one second of 16 kHz s16le
WS_MAX_BYTES = 64 * 1024  # uvicorn's frame limit (`likeness serve`): a larger message is refused before it is buffered
MAX_TEXT_BYTES = 4_096
MAX_SAY_CHARS = 1_000
SEND_TIMEOUT_S = 10.0
WATCH_EVERY_S = 0.25
DEFAULT_MIME = 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'

# close codes (docs/sessions.md)
CLOSE_NORMAL = 1000
CLOSE_CODES = {"bad_message": 4400, "idle": 4408, "client_not_reading": 4408, "message_too_large": 4413,
               "quota_exhausted": 4429, "internal_error": 1011,
               **{reason: 4403 for reason in WITHDRAWN if reason != "quota_exhausted"}}


# ---------------------------------------------------------------------- the server's sessions


class LiveHub:
    """This process's live sessions: capacity, the generator, and what every session shares."""

    def __init__(self, rt: Runtime, *, self_attested: bool = False) -> None:
        self.rt = rt
        self.max_sessions = rt.settings.live_max_sessions
        self.active = 0
        self.server = SERVER_NAME
        self._generator: Generator | None = None
        self.settings = LiveSettings(
            repository=ManifestRepository(rt.engine), identity=provenance_identity(rt.settings),
            work_dir=rt.settings.data_dir / "live",
            crf=rt.settings.video_crf, preset=rt.settings.video_preset, consent_self_attested=self_attested)
        self.conversations: dict[str, Conversation] = {}

    @property
    def generator(self) -> Generator:
        if self._generator is None:  # the default backend renders live (the learned one refuses: generator/)
            from generator import get_generator

            self._generator = get_generator("default")
        return self._generator

    def full(self) -> bool:
        return self.active >= self.max_sessions

    def capacity_refusal(self) -> Refusal:
        return Refusal(f"this server already streams {self.active} live session(s), as many as it holds in real "
                       "time; try again shortly", status=503, code="live_capacity", retry_after_s=5)


def hub_of(connection: HTTPConnection) -> LiveHub:
    """The app's :class:`LiveHub`, made on first use (the generator loads with the first session)."""
    hub = getattr(connection.app.state, "live", None)
    if hub is None:
        hub = connection.app.state.live = LiveHub(connection.app.state.runtime)
    return hub


# ---------------------------------------------------------------------- shapes


class SessionOut(BaseModel):
    id: str = Field(description="the session's generation id (gen_ + 16 hex digits, the watermark id)")
    status: Literal["open", "streaming", "closed"]
    consent_id: str
    purpose: str
    decision: DecisionOut
    max_seconds: float
    segment_seconds: float
    idle_timeout_s: float
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE
    token_expires_at: datetime
    stream_url: str
    created_at: datetime
    started_at: datetime | None = None
    closed_at: datetime | None = None
    end_reason: str | None = None
    segments: int = 0
    frames: int = 0
    audio_seconds: float = 0.0
    chain_head: str | None = None
    generation_status: str
    video_url: str | None = None


class OpenedOut(SessionOut):
    token: str = Field(description="the session token (lks_…), shown once: it opens this session's stream only")


def _out(row: LiveSessionRow, job: GenerationJob, *, idle_timeout_s: float) -> dict[str, Any]:
    decision = job.decision or {}
    released = job.status == JobStatus.RELEASED and job.output_deleted_at is None
    return dict(
        id=row.id, status=row.state, consent_id=job.consent_id, purpose=job.purpose,
        decision=DecisionOut(allowed=bool(decision.get("allowed", True)), reasons=list(decision.get("reasons", [])),
                             policy_version=str(decision.get("policy_version", job.policy_version))),
        max_seconds=row.max_seconds, segment_seconds=row.segment_seconds, idle_timeout_s=idle_timeout_s,
        token_expires_at=row.token_expires_at, stream_url=f"/v1/sessions/{row.id}/stream", created_at=row.created_at,
        started_at=row.started_at, closed_at=row.closed_at, end_reason=row.end_reason, segments=row.segments,
        frames=row.frames, audio_seconds=row.audio_seconds, chain_head=row.chain_head,
        generation_status=job.status, video_url=f"/v1/generations/{job.id}/video" if released else None)


# ---------------------------------------------------------------------- HTTP routes

router = APIRouter(prefix="/v1", tags=["partner API"], responses=ERRORS)
Rt = Annotated[Runtime, Depends(runtime)]
Caller = Annotated[AuthenticatedPartner, Depends(partner)]
Hub = Annotated[LiveHub, Depends(hub_of)]


@router.post("/sessions", status_code=201, response_model=OpenedOut)
async def open_session(
    response: Response, rt: Rt, caller: Caller, hub: Hub,
    portrait: Annotated[UploadFile, File(description="the portrait: JPEG, PNG or WebP, one face")],
    consent_id: Annotated[str, Form(pattern=_CONSENT, description="the consent of the person in the portrait")],
    purpose: Annotated[str, Form(pattern=_PURPOSE, description="one of the partner's declared use cases")],
    controls: Annotated[dict[str, Any], Depends(generator_controls)],
    max_seconds: Annotated[float | None, Form(gt=0, description="the session's length limit, seconds")] = None,
    segment_seconds: Annotated[float | None, Form(
        ge=0.08, le=2.0, description="segment length, seconds (the first segment is one frame)")] = None,
) -> OpenedOut:
    """Open a live session: the gate of a job (consent, identity match, policy, quota), then a session token for
    the client that streams (docs/sessions.md). The session counts as one generation of the quota."""
    caller.require("generations:write")
    settings = rt.settings
    if hub.full():
        raise hub.capacity_refusal()
    longest = settings.live_max_seconds
    if max_seconds is not None and max_seconds > longest:
        raise Refusal(f"max_seconds is at most {longest:g} on this server", status=422, code="invalid_request")
    request = SessionRequest(
        consent_id=consent_id, purpose=purpose,
        portrait=await read_upload(portrait, limit=settings.max_upload_bytes, role="portrait"),
        max_seconds=max_seconds or longest, segment_seconds=segment_seconds or settings.live_segment_seconds,
        token_ttl_s=settings.live_token_ttl_s, controls=controls)
    opened = await anyio.to_thread.run_sync(lambda: rt.gate.open_session(caller, request, server=hub.server))
    response.headers["Location"] = f"/v1/sessions/{opened.job.id}"
    response.headers["Cache-Control"] = "no-store"
    return OpenedOut(token=opened.token, **_out(opened.session, opened.job,
                                                 idle_timeout_s=settings.live_idle_timeout_s))


def _own(rt: Runtime, caller: AuthenticatedPartner, session_id: str) -> tuple[LiveSessionRow, GenerationJob]:
    row = rt.sessions.get_for(session_id, partner_id=caller.partner.id)
    job = rt.jobs.get_for(session_id, partner_id=caller.partner.id)
    if row is None or job is None:
        raise Refusal(f"no session {session_id} of yours", status=404, code="not_found")
    return row, job


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(rt: Rt, caller: Caller, session_id: Annotated[str, PathParam(pattern=_ID)]) -> SessionOut:
    """One of the partner's live sessions, as it stands."""
    caller.require("generations:read")
    row, job = _own(rt, caller, session_id)
    return SessionOut(**_out(row, job, idle_timeout_s=rt.settings.live_idle_timeout_s))


@router.post("/sessions/{session_id}/end", response_model=SessionOut, status_code=202)
async def end_session(rt: Rt, caller: Caller, hub: Hub,
                      session_id: Annotated[str, PathParam(pattern=_ID)]) -> SessionOut:
    """End a streaming session from the partner's backend (``ended_by_partner``; its recording is released).
    Answered 409 if the session does not stream in this server process."""
    caller.require("generations:write")
    row, job = _own(rt, caller, session_id)
    conversation = hub.conversations.get(session_id)
    if conversation is None:
        raise Refusal(f"session {session_id} is {row.state} and does not stream here", status=409,
                      code="session_not_streaming")
    conversation.request_end("ended_by_partner", message="the partner ended the session")
    return SessionOut(**_out(row, job, idle_timeout_s=rt.settings.live_idle_timeout_s))


# ---------------------------------------------------------------------- the stream


def session_token(websocket: WebSocket) -> tuple[str | None, bool]:
    """The token from ``Authorization: Bearer`` or the subprotocol ``token.<token>``; and whether the client
    asked for the subprotocol ``likeness.live.v1`` (then the answer names it)."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    token = next((p.removeprefix("token.") for p in offered if p.startswith("token.")), None)
    scheme, _, credentials = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
    return (token or None), SUBPROTOCOL in offered


async def _deny(websocket: WebSocket, exc: LikenessError) -> None:
    """Refuse the handshake with the API's JSON error (HTTP status, no socket)."""
    await websocket.send_denial_response(error_response(exc, request_id="ws"))


@router.websocket("/sessions/{session_id}/stream")
async def stream(websocket: WebSocket, session_id: str) -> None:
    rt: Runtime = websocket.app.state.runtime
    hub = hub_of(websocket)
    token, wants_subprotocol = session_token(websocket)
    if token is None or not re.match(_ID, session_id):
        await _deny(websocket, Refusal("send the session token as 'Authorization: Bearer <token>' or the "
                                       "subprotocol 'token.<token>'", status=401, code="unauthenticated"))
        return
    if hub.full():
        await _deny(websocket, hub.capacity_refusal())
        return
    hub.active += 1
    try:
        try:
            row = await anyio.to_thread.run_sync(lambda: rt.sessions.connect(session_id, token=token,
                                                                                server=hub.server))
        except LikenessError as exc:
            await _deny(websocket, exc)
            return
        job = rt.jobs.get(session_id)
        assert job is not None  # made with the session, in the same request
        runner = LiveSessionRunner(
            job, generator=hub.generator, settings=hub.settings, jobs=rt.jobs, sessions=rt.sessions, blobs=rt.blobs,
            registry=rt.registry, partners=rt.partners, policies=rt.policies, audit=rt.auditor("server"),
            segment_seconds=row.segment_seconds, max_seconds=row.max_seconds, server=hub.server)
        try:
            await anyio.to_thread.run_sync(runner.start)
        except Exception as exc:  # a refused portrait or a bug: no socket, the session closed, nothing sent
            logger.warning("live session %s could not start: %s: %s", session_id, type(exc).__name__, exc)
            words = f"the session could not start: {type(exc).__name__}"
            await anyio.to_thread.run_sync(lambda: runner.close("internal_error", message=words))
            await _deny(websocket, Refusal("the session could not start", status=500, code="internal_error"))
            return
        conversation = Conversation(websocket, runner=runner, row=row, settings=rt.settings)
        hub.conversations[session_id] = conversation
        try:
            await websocket.accept(subprotocol=SUBPROTOCOL if wants_subprotocol else None)
            await conversation.run()
        except (WebSocketDisconnect, RuntimeError, OSError):  # gone before or while it was accepted
            conversation.disconnected = True
        finally:
            hub.conversations.pop(session_id, None)
            if runner.closed is None:  # never left open: what was rendered is released, or the session abandoned
                await anyio.to_thread.run_sync(lambda: runner.close("client_disconnected",
                                                                    message="the client went away"))
    finally:
        hub.active -= 1


@dataclass
class _End:
    reason: str
    message: str
    graceful: bool  # the rest is rendered and sent before the close


@dataclass
class _Item:
    kind: Literal["audio", "text", "end"]
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    text: str = ""


class _BadMessage(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Conversation:
    """One stream: reader, renderer and watcher (see the module's docstring)."""

    def __init__(self, websocket: WebSocket, *, runner: LiveSessionRunner, row: LiveSessionRow, settings: Any) -> None:
        self.ws = websocket
        self.runner = runner
        self.max_seconds = row.max_seconds
        self.segment_seconds = row.segment_seconds
        self.idle_s = settings.live_idle_timeout_s
        self.max_ahead_s = settings.live_max_ahead_s
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.received_s = 0.0
        self.first_audio_at: float | None = None
        self.sent_bytes = 0
        self.send_lock = asyncio.Lock()
        self.end: _End | None = None
        self.ended = asyncio.Event()
        self.disconnected = False

    def request_end(self, reason: str, *, message: str, graceful: bool = True) -> None:
        if self.end is None:
            self.end = _End(reason=reason, message=message, graceful=graceful)
            if graceful:
                self.queue.put_nowait(_Item("end"))
            else:
                self.ended.set()

    async def run(self) -> None:
        job = self.runner.job
        reader: asyncio.Task[None] | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._send_json({
                "type": "ready", "session_id": job.id, "generation_id": job.id, "fps": FPS,
                "sample_rate": SAMPLE_RATE, "segment_seconds": self.segment_seconds, "lookahead_s": LOOKAHEAD_S,
                "max_seconds": self.max_seconds, "idle_timeout_s": self.idle_s, "max_message_bytes": MAX_PCM_BYTES,
                "max_ahead_s": self.max_ahead_s, "mime": DEFAULT_MIME, "pcm": "s16le"})
            reader = asyncio.create_task(self._read())
            tasks = [asyncio.create_task(coro) for coro in (self._render(), self._watch())]
            await self.ended.wait()
        except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
            self.disconnected = True
            self.request_end("client_disconnected", message="the client went away", graceful=False)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            # the reader goes on until the close: uvicorn reads the socket (pings, pongs, the close) only while
            # the app takes its messages, and the close of a long session (its recording's release) takes minutes
            end = self.end or _End("internal_error", "the session stopped", graceful=False)
            closed = await anyio.to_thread.run_sync(lambda: self.runner.close(end.reason, message=end.message))
            logger.info("live session %s closed: %s (%s), %d segments", job.id, end.reason, closed.status,
                        closed.segments)
            await self._close(end, closed)
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    async def _close(self, end: _End, closed: Closed) -> None:
        if self.disconnected or self.ws.client_state != WebSocketState.CONNECTED:
            return
        code = CLOSE_CODES.get(end.reason, CLOSE_NORMAL)
        try:
            if code in (4400, 4413):
                await self._send_json({"type": "error", "code": end.reason, "message": end.message})
            await self._send_json({
                "type": "ended", "reason": end.reason, "message": end.message, "generation_id": self.runner.job.id,
                "status": closed.status, "segments": closed.segments, "frames": closed.frames,
                "audio_seconds": closed.audio_seconds, "chain_head": closed.chain_head, "video_url": closed.video_url})
            await self.ws.close(code=code, reason=end.reason[:120])
        except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
            pass

    # ------------------------------------------------------------------ reading

    async def _read(self) -> None:
        """Take the client's messages until the session ends, then keep draining them (ignored) until the close."""
        try:
            while True:
                if self.end is None:
                    await self._pace()
                try:
                    message = await asyncio.wait_for(self.ws.receive(),
                                                     timeout=self.idle_s if self.end is None else None)
                except TimeoutError:
                    self.request_end("idle", message=f"no message for {self.idle_s:g} s")
                    continue
                if message["type"] == "websocket.disconnect":
                    self.disconnected = True
                    self.request_end("client_disconnected", message="the client went away")
                    return
                if self.end is None:
                    try:
                        await self._take(message)
                    except _BadMessage as bad:
                        self.request_end(bad.reason, message=str(bad))
        except WebSocketDisconnect:
            self.disconnected = True
            self.request_end("client_disconnected", message="the client went away")

    async def _pace(self) -> None:
        """Read speech at most ``max_ahead_s`` ahead of real time: a faster client waits on TCP flow control."""
        if self.first_audio_at is None:
            return
        ahead = self.received_s - (time.monotonic() - self.first_audio_at)
        if ahead > self.max_ahead_s:
            await asyncio.sleep(ahead - self.max_ahead_s)

    async def _take(self, message: Mapping[str, Any]) -> None:
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            self._audio(data)
            return
        if text is None:
            return
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise _BadMessage("message_too_large", f"a text message is at most {MAX_TEXT_BYTES} bytes")
        try:
            body = json.loads(text)
        except ValueError:
            raise _BadMessage("bad_message", "a text message is JSON: {\"type\": …}") from None
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "ping":
            await self._send_json({"type": "pong"})
        elif kind == "interrupt":
            dropped = 0
            while not self.queue.empty():
                self.queue.get_nowait()
                dropped += 1
            await self._send_json({"type": "interrupted", "dropped_messages": dropped})
        elif kind == "end":
            self.request_end("client_ended", message="the client ended the session")
        elif kind == "text":
            say = body.get("text")
            if not isinstance(say, str) or not say.strip() or len(say) > MAX_SAY_CHARS:
                raise _BadMessage("bad_message", f"text is a non-empty string of at most {MAX_SAY_CHARS} characters")
            self.queue.put_nowait(_Item("text", text=say))
        else:
            raise _BadMessage("bad_message", f"unknown message type {str(kind)[:40]!r}: send audio as binary PCM, "
                              "or text, interrupt, end, ping")

    def _audio(self, data: bytes) -> None:
        if len(data) > MAX_PCM_BYTES:
            raise _BadMessage("message_too_large", f"a speech message is at most {MAX_PCM_BYTES} bytes (1 s)")
        if len(data) % 2:
            raise _BadMessage("bad_message", "speech is 16-bit PCM: a message has an even number of bytes")
        if not data:
            return
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        room = round((self.max_seconds - self.received_s) * SAMPLE_RATE)
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        if samples.size >= room:
            self.queue.put_nowait(_Item("audio", samples=samples[:max(room, 0)]))
            self.received_s = self.max_seconds
            self.request_end("max_length", message=f"the session reached its limit of {self.max_seconds:g} s")
            return
        self.received_s += samples.size / SAMPLE_RATE
        self.queue.put_nowait(_Item("audio", samples=samples))

    # ------------------------------------------------------------------ rendering

    async def _render(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if item.kind == "end":
                    segments = await anyio.to_thread.run_sync(self.runner.drain)
                    await self._send_segments(segments)
                    self.ended.set()
                    return
                if item.kind == "text":
                    samples = await anyio.to_thread.run_sync(_speak, item.text)
                    for start in range(0, samples.size, SAMPLE_RATE):
                        segments = await anyio.to_thread.run_sync(self.runner.feed, samples[start:start + SAMPLE_RATE])
                        await self._send_segments(segments)
                    continue
                if item.samples.size:
                    segments = await anyio.to_thread.run_sync(self.runner.feed, item.samples)
                    await self._send_segments(segments)
        except LikenessError as exc:
            logger.warning("live session %s: %s", self.runner.job.id, exc)
            self._fail(f"the session failed: {type(exc).__name__}")
        except Exception:
            logger.exception("live session %s failed", self.runner.job.id)
            self._fail("the session failed")

    def _fail(self, message: str) -> None:
        self.end = _End("internal_error", message, graceful=False)
        self.ended.set()

    async def _send_segments(self, segments: list[Any]) -> None:
        for segment in segments:
            if self.disconnected or (self.end is not None and not self.end.graceful):
                return  # withdrawn or failed meanwhile: nothing more leaves
            meta = {"type": "segment", "sequence": segment.sequence_number, "first_frame": segment.first_frame,
                    "frames": segment.frames, "start_s": round(segment.start_s, 4),
                    "duration_s": round(segment.duration_s, 4), "bytes": len(segment.data), "sha256": segment.sha256,
                    "manifest_id": segment.manifest_id, "audio_received_s": round(self.received_s, 3),
                    "render_ms": round(1000 * sum(segment.timings_s.values()), 1), "mime": mse_type(segment.data)}
            try:
                async with self.send_lock:
                    await asyncio.wait_for(self.ws.send_text(json.dumps(meta)), timeout=SEND_TIMEOUT_S)
                    await asyncio.wait_for(self.ws.send_bytes(segment.data), timeout=SEND_TIMEOUT_S)
            except TimeoutError:
                self.request_end("client_not_reading", message=f"a segment could not be sent for {SEND_TIMEOUT_S:g} s",
                                 graceful=False)
                return
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.disconnected = True
                self.request_end("client_disconnected", message="the client went away", graceful=False)
                return
            self.sent_bytes += len(segment.data)

    # ------------------------------------------------------------------ watching

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            try:
                withdrawn = await anyio.to_thread.run_sync(self.runner.recheck)
            except LikenessError as exc:
                logger.warning("live session %s: the recheck failed (%s); ending it", self.runner.job.id, exc)
                withdrawn = ("internal_error", "what the session was allowed on could not be checked")
            if withdrawn is not None:
                reason, words = withdrawn
                logger.info("live session %s ended: %s", self.runner.job.id, reason)
                self.end = _End(reason, words, graceful=False)
                self.ended.set()
                return

    async def _send_json(self, body: dict[str, Any]) -> None:
        async with self.send_lock:
            await asyncio.wait_for(self.ws.send_text(json.dumps(body)), timeout=SEND_TIMEOUT_S)


def _speak(text: str) -> np.ndarray:
    """``text`` spoken by the offline TTS, as 16 kHz mono float32."""
    from media import read_audio
    from speech import synthesise_speech

    with tempfile.TemporaryDirectory(prefix="likeness-say-") as scratch:
        wav = synthesise_speech(text, dest=Path(scratch) / "say.wav")
        audio = read_audio(wav, sample_rate=SAMPLE_RATE, mono=True)
    return np.asarray(audio.samples[0], dtype=np.float32)


def mse_type(segment: bytes) -> str:
    """The Media Source Extensions type of a segment: its H.264 profile and level (``avcC``), AAC-LC audio."""
    at = segment.find(b"avcC")
    if at < 0 or at + 8 > len(segment):
        return DEFAULT_MIME
    profile, compat, level = segment[at + 5], segment[at + 6], segment[at + 7]
    return f'video/mp4; codecs="avc1.{profile:02x}{compat:02x}{level:02x}, mp4a.40.2"'


__all__ = ["SUBPROTOCOL", "WS_MAX_BYTES", "Conversation", "LiveHub", "mse_type", "router", "session_token"]
