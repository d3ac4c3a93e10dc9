"""Live sessions over WebSocket (docs/sessions.md): speech in, signed and watermarked video segments out.

>>> pcm16(np.array([0.0, 0.5, -1.0, 2.0], np.float32))       # floats in [-1, 1] become 16-bit PCM
b'\\x00\\x00\\x00@\\x01\\x80\\xff\\x7f'
>>> websocket_url("https://likeness.example/", path="/v1/sessions/gen_0123456789abcdef/stream")
'wss://likeness.example/v1/sessions/gen_0123456789abcdef/stream'

With a ticket from ``open_session`` (the partner's backend holds the API key; whoever streams
holds only the one-time session token)::

    from likeness.client import AsyncClient, Segment, stream_session

    async with AsyncClient(base_url=URL, api_key=KEY) as client:
        ticket = await client.open_session(portrait="face.jpg", consent_id="cns_…", purpose="education")
    async with stream_session(ticket, base_url=URL) as live:
        await live.send_audio(pcm_bytes)        # 16 kHz mono s16le, int16 or float arrays
        await live.say("And now in words.")
        await live.end()                        # the rest is rendered, then ``Ended``
        async for event in live:                # Ready, Segment…, Ended; an error close then raises
            if isinstance(event, Segment):
                player.append(event.data)       # a self-contained signed fragmented MP4

Or, sending while receiving, ``async for segment in run_session(chunks, ticket=ticket, base_url=URL)``.

The token travels in ``Authorization: Bearer`` (never the URL) and is kept out of reprs, messages
and websockets' debug log. A refused handshake (401, 409, 503…) and an error close (4400, 4403,
4408, 4413, 4429, 1011) raise the :mod:`likeness.client.errors` class of their kind, with the
server's code (the close reason) and message (its ``error`` event). Every :class:`Segment`
records when it arrived (``received_at``, ``time.perf_counter()``); :meth:`LiveSession.audio_sent_at`
says when a given second of audio had been sent, so that a caller can measure latency.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from types import TracebackType
from typing import Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from likeness.client.errors import (
    APIConnectionError,
    ClientInputError,
    IntegrityError,
    LikenessAPIError,
    ServerError,
    error_from_close,
    error_from_response,
)
from likeness.client.schemas import SessionTicket

SUBPROTOCOL = Subprotocol("likeness.live.v1")
SAMPLE_RATE = 16_000
DEFAULT_MESSAGE_BYTES = 32_000
CLOSE_WAIT_S = 10.0  # how long the close may follow `ended`
AudioChunk = bytes | bytearray | memoryview | np.ndarray


class _HideSecrets(logging.Filter):
    """websockets logs every handshake header at DEBUG: the bearer token must not be one of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).lower() in ("authorization", "cookie"):
            record.args = (args[0], "<hidden>")
        return True


_ws_logger = logging.getLogger("likeness.client.websocket")
_ws_logger.addFilter(_HideSecrets())


# ---------------------------------------------------------------------- events


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Ready(_Event):
    """The stream is open: the session's rates and limits (always the first event)."""

    type: Literal["ready"] = "ready"
    session_id: str
    generation_id: str | None = None
    fps: float
    sample_rate: int = SAMPLE_RATE
    segment_seconds: float | None = None
    lookahead_s: float | None = None
    max_seconds: float | None = None
    idle_timeout_s: float | None = None
    max_message_bytes: int = DEFAULT_MESSAGE_BYTES
    max_ahead_s: float | None = None
    mime: str | None = None


class Segment(_Event):
    """One signed, watermarked segment: ``data`` is a self-contained fragmented MP4 (checked against ``sha256``)."""

    type: Literal["segment"] = "segment"
    sequence: int
    first_frame: int
    frames: int
    start_s: float
    duration_s: float
    size: int = Field(alias="bytes")
    sha256: str
    manifest_id: str | None = None
    audio_received_s: float | None = None
    render_ms: float | None = None
    mime: str | None = Field(default=None, description="this segment's MSE type, where the server states it")
    data: bytes = Field(default=b"", repr=False)
    received_at: float = Field(default=0.0, description="time.perf_counter() when the bytes arrived")


class Error(_Event):
    """The server's word on what it is about to close the stream for (the close raises the matching error)."""

    type: Literal["error"] = "error"
    code: str
    message: str = ""


class Ended(_Event):
    """The session is over: how it ended, the generation's status and, once released, where the recording is."""

    type: Literal["ended"] = "ended"
    reason: str
    message: str | None = None
    generation_id: str | None = None
    status: str | None = None
    segments: int | None = None
    frames: int | None = None
    audio_seconds: float | None = None
    chain_head: str | None = None
    video_url: str | None = None


class Pong(_Event):
    """The answer to :meth:`LiveSession.ping`."""

    type: Literal["pong"] = "pong"


class Notice(_Event):
    """A message of a type this client does not know (``data`` holds it whole): passed on, never refused."""

    type: str
    data: dict[str, Any] = {}


Event = Ready | Segment | Error | Ended | Pong | Notice
_EVENTS: dict[str, type[_Event]] = {"ready": Ready, "segment": Segment, "error": Error, "ended": Ended,
                                    "pong": Pong}


# ---------------------------------------------------------------------- helpers


def pcm16(audio: AudioChunk) -> bytes:
    """Audio as the stream takes it: 16-bit little-endian mono PCM (from s16le bytes, int16 or float arrays)."""
    if isinstance(audio, bytes | bytearray | memoryview):
        data = bytes(audio)
    elif isinstance(audio, np.ndarray):
        samples = audio.reshape(-1) if audio.ndim == 2 and 1 in audio.shape else audio
        if samples.ndim != 1:
            raise ClientInputError(f"audio must be mono: an array of shape {audio.shape}", code="audio_channels")
        if samples.dtype.kind == "f":
            samples = np.round(np.clip(samples, -1.0, 1.0) * 32767.0)
        elif samples.dtype != np.int16:
            raise ClientInputError(f"audio arrays are int16 or float, not {samples.dtype}", code="audio_dtype")
        data = samples.astype("<i2").tobytes()
    else:
        raise ClientInputError(f"audio must be bytes or a numpy array, not {type(audio).__name__}", code="audio_type")
    if len(data) % 2:
        raise ClientInputError("16-bit PCM has an even number of bytes", code="audio_odd_length")
    return data


def websocket_url(base_url: str, *, path: str) -> str:
    """The ``ws(s)://`` URL of ``path`` on the server at ``base_url`` (kept under its path prefix, if any)."""
    if path.startswith(("ws://", "wss://")):
        return path
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if base_url.startswith(http):
            return ws + base_url.removeprefix(http).rstrip("/") + "/" + path.lstrip("/")
    raise ClientInputError(f"base_url must start with http:// or https://, not {base_url[:40]!r}", code="base_url")


def _close_of(exc: ConnectionClosed) -> tuple[int, str]:
    if exc.rcvd is not None:
        return exc.rcvd.code, exc.rcvd.reason
    return 1006, ""  # no close frame: the connection broke


# ---------------------------------------------------------------------- the session


class LiveSession:
    """One live stream: send speech, text and controls; iterate the events. Use ``async with``.

    Entering connects (the token spent), waits for :class:`Ready` and keeps it as ``ready``; the
    iteration yields that ``Ready`` first, then every event in order up to :class:`Ended` (kept as
    ``ended``), then reads the close: a normal one (1000) ends the iteration, any other raises its
    error, after the ``Ended`` that told what became of the recording. Leaving the block closes the
    connection (before ``end()``, the server releases what it rendered as ``client_disconnected``).
    """

    def __init__(self, url: str, *, token: str, open_timeout_s: float = 30.0, max_segment_bytes: int = 64 * 2**20,
                 verify_segments: bool = True) -> None:
        self.url = url
        self._token = token
        self._open_timeout_s = open_timeout_s
        self._max_size = max_segment_bytes
        self._verify = verify_segments
        self._ws: ClientConnection | None = None
        self.ready: Ready | None = None
        self.ended: Ended | None = None
        self.last_error: Error | None = None
        self._pending: list[Event] = []
        self._sent_s: list[float] = [0.0]
        self._sent_at: list[float] = [0.0]
        self.first_audio_at: float | None = None

    def __repr__(self) -> str:
        return f"LiveSession(url={self.url!r}, ready={self.ready is not None}, ended={self.ended is not None})"

    # -- connection

    async def __aenter__(self) -> LiveSession:
        try:
            self._ws = await connect(
                self.url, additional_headers={"Authorization": f"Bearer {self._token}"},
                subprotocols=[SUBPROTOCOL], compression=None, max_size=self._max_size,
                open_timeout=self._open_timeout_s, logger=_ws_logger,
                user_agent_header="likeness-client (websockets)")
        except InvalidStatus as exc:
            response = exc.response
            raise error_from_response(response.status_code, body=bytes(response.body or b""),
                                      headers=dict(response.headers.raw_items())) from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise APIConnectionError(f"could not open the live stream: {type(exc).__name__}: {exc}",
                                     code="connection") from None
        try:
            first = await asyncio.wait_for(self._first_event(), timeout=self._open_timeout_s)
        except BaseException:
            await self.close()
            raise
        if not isinstance(first, Ready):
            await self.close()
            raise ServerError(f"the stream began with {first.type if first else 'a close'!r}, not 'ready'",
                              code="protocol_error")
        self.ready = first
        self._pending.append(first)
        return self

    async def _first_event(self) -> Event | None:
        """``ready``; past an ``error`` the server sends before it closes (the close then raises, with its words)."""
        event = await self._next_event()
        while isinstance(event, Error):
            event = await self._next_event()
        return event

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._ws is not None:
            await self._ws.close()

    # -- sending

    async def _send(self, message: str | bytes) -> None:
        if self._ws is None:
            raise ClientInputError("the live session is not open: use `async with`", code="not_open")
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise self._close_error(exc) from None

    async def send_audio(self, audio: AudioChunk) -> None:
        """Speech: 16 kHz mono s16le bytes, an int16 array, or floats in [-1, 1]; cut into messages the server takes."""
        data = pcm16(audio)
        step = max(2, (self.ready.max_message_bytes if self.ready else DEFAULT_MESSAGE_BYTES) // 2 * 2)
        for start in range(0, len(data), step):
            chunk = data[start:start + step]
            await self._send(chunk)
            now = time.perf_counter()
            if self.first_audio_at is None:
                self.first_audio_at = now
            self._sent_s.append(self._sent_s[-1] + len(chunk) / 2 / SAMPLE_RATE)
            self._sent_at.append(now)

    async def say(self, text: str) -> None:
        """Text spoken by the server's offline TTS, then animated like audio (at most 1,000 characters)."""
        await self._send(json.dumps({"type": "text", "text": text}))

    async def interrupt(self) -> None:
        """Drop the speech sent but not yet rendered: the face goes quiet."""
        await self._send(json.dumps({"type": "interrupt"}))

    async def ping(self) -> None:
        """Ask for a :class:`Pong` (and count as activity for the idle timeout)."""
        await self._send(json.dumps({"type": "ping"}))

    async def end(self) -> None:
        """The speech is over: the rest is rendered and sent, the recording released, then :class:`Ended`."""
        await self._send(json.dumps({"type": "end"}))

    async def send_json(self, message: dict[str, Any]) -> None:
        """A control message this client has no method for (one a later protocol version adds)."""
        await self._send(json.dumps(message))

    @property
    def audio_sent_s(self) -> float:
        """Seconds of audio sent so far."""
        return self._sent_s[-1]

    def audio_sent_at(self, seconds: float) -> float | None:
        """When (``time.perf_counter()``) the audio up to ``seconds`` had been sent; None if not yet (or never:
        speech the server spoke from text)."""
        index = max(1, bisect.bisect_left(self._sent_s, seconds))
        return self._sent_at[index] if index < len(self._sent_at) else None

    # -- receiving

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        while self._pending:
            yield self._pending.pop(0)
        while (event := await self._next_event()) is not None:
            if self.ended is None or isinstance(event, Ended):
                yield event  # after `ended` only the close counts: it may still be an error (4400, 4403…)

    async def _next_event(self) -> Event | None:
        """The next event; None once the stream closed normally; the close's error otherwise."""
        assert self._ws is not None
        try:
            if self.ended is None:
                message = await self._ws.recv()
            else:  # the server closes right after `ended`
                message = await asyncio.wait_for(self._ws.recv(), timeout=CLOSE_WAIT_S)
            if isinstance(message, bytes):
                raise ServerError("a binary message came without its segment header", code="protocol_error")
            event = self._parse(message)
            if isinstance(event, Segment):
                event = await self._segment_data(event)
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            code, _ = _close_of(exc)
            if code == 1000 or (code == 1001 and self.ended is not None) or (exc.rcvd is None and exc.sent):
                return None
            raise self._close_error(exc) from None
        if isinstance(event, Ended):
            self.ended = self.ended or event
        elif isinstance(event, Error):
            self.last_error = event
        return event

    def _close_error(self, exc: ConnectionClosed) -> LikenessAPIError:
        """The error of a close, in the server's words where it sent some (its ``error``, else its ``ended``)."""
        code, reason = _close_of(exc)
        words = (self.last_error.message if self.last_error else None) or (self.ended.message if self.ended else None)
        return error_from_close(code, reason=reason, message=words or None)

    def _parse(self, message: str) -> Event:
        try:
            body: Any = json.loads(message)
            kind = body["type"]
            if kind not in _EVENTS:  # a later protocol version's event: passed on, not refused
                return Notice(type=str(kind), data=body)
            return cast(Event, _EVENTS[kind].model_validate(body))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ServerError(f"the server sent a message the client does not read: {type(exc).__name__}",
                              code="protocol_error") from None

    async def _segment_data(self, header: Segment) -> Segment:
        assert self._ws is not None
        data = await self._ws.recv()
        received_at = time.perf_counter()
        if not isinstance(data, bytes):
            raise ServerError(f"segment {header.sequence}: its header was not followed by its bytes",
                              code="protocol_error")
        if self._verify and (len(data) != header.size or hashlib.sha256(data).hexdigest() != header.sha256):
            raise IntegrityError(f"segment {header.sequence} does not match its size or SHA-256", code="segment_sha256")
        return header.model_copy(update={"data": data, "received_at": received_at})


def stream_session(ticket: SessionTicket | str, *, base_url: str, session_id: str | None = None,
                   open_timeout_s: float = 30.0, max_segment_bytes: int = 64 * 2**20) -> LiveSession:
    """The live stream of a session, to use with ``async with``: from its ticket, or from its token and id.

    ``base_url`` is the server's HTTP(S) address (the stream's URL is ``ticket.stream_url`` on it).
    """
    if isinstance(ticket, SessionTicket):
        path, token = ticket.stream_url, ticket.token
    elif session_id:
        path, token = f"/v1/sessions/{session_id}/stream", ticket
    else:
        raise ClientInputError("a session token needs its session_id (or pass the whole ticket)", code="session_id")
    return LiveSession(websocket_url(base_url, path=path), token=token, open_timeout_s=open_timeout_s,
                       max_segment_bytes=max_segment_bytes)


async def _pump(live: LiveSession, chunks: AsyncIterable[AudioChunk]) -> None:
    """Send every chunk, then ``end``; on a failure, close the stream so that the receiving side stops too."""
    try:
        async for chunk in chunks:
            await live.send_audio(chunk)
        await live.end()
    except asyncio.CancelledError:
        raise
    except BaseException:
        await live.close()
        raise


async def run_session(audio_chunks: AsyncIterable[AudioChunk], *, ticket: SessionTicket | str, base_url: str,
                      session_id: str | None = None, open_timeout_s: float = 30.0) -> AsyncIterator[Segment]:
    """Video segments from an async iterator of audio chunks: sends (then ``end``) while it receives.

    Ends after the server's ``Ended``; raises the error of a refused handshake or an error close, or
    the audio iterator's own exception. To stop early, break out of ``async with
    contextlib.aclosing(run_session(…)) as segments`` so that the stream closes at once (a plain
    ``break`` leaves that to the event loop's finaliser of async generators).
    """
    async with stream_session(ticket, base_url=base_url, session_id=session_id,
                              open_timeout_s=open_timeout_s) as live:
        sender = asyncio.create_task(_pump(live, audio_chunks))
        try:
            async for event in live:
                if isinstance(event, Segment):
                    yield event
            if live.ended is None:  # closed without `ended`: by the sender on its failure, which it is raising now
                await asyncio.wait([sender], timeout=10)
        finally:
            sender.cancel()  # nothing left to send once the stream is over (a no-op if it is done)
            await asyncio.wait([sender])
            failure = None if sender.cancelled() else sender.exception()  # retrieved, whatever happens next
        # audio the server no longer took because the session had ended (max_length) is not a failure
        if failure is not None and not (live.ended is not None and isinstance(failure, LikenessAPIError)):
            raise failure


__all__ = [
    "SAMPLE_RATE",
    "SUBPROTOCOL",
    "AudioChunk",
    "Ended",
    "Error",
    "Event",
    "LiveSession",
    "Notice",
    "Pong",
    "Ready",
    "Segment",
    "pcm16",
    "run_session",
    "stream_session",
    "websocket_url",
]
