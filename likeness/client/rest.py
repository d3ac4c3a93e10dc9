"""The partner API over HTTP: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), the same methods.

>>> with Client(base_url="http://127.0.0.1:9", api_key="lk_live_example") as client:
...     client
Client(base_url='http://127.0.0.1:9')

Against a running server (``likeness serve``) with a partner key::

    from likeness.client import Client

    with Client(base_url="https://likeness.example", api_key=KEY) as client:
        job = client.create_generation(portrait="face.jpg", audio="speech.wav",
                                       consent_id="cns_…", purpose="education", emotion="happy",
                                       idempotency_key="lesson-42")
        job = client.wait(job.id, timeout_s=600)          # raises GenerationFailedError if it failed
        path = client.download(job.id, dest="lesson-42.mp4")   # SHA-256 checked, renamed into place

A refusal raises a :class:`~likeness.client.errors.LikenessAPIError` subclass carrying the status,
the API's error code, the reasons (policy ids and words) and ``retry_after_s`` where the server
sent ``Retry-After``. The key is sent as ``Authorization: Bearer`` and appears in no message or repr.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Unpack

import httpx

from likeness.client import _core
from likeness.client._core import Call, Controls, Download, M, Media, Poll
from likeness.client.errors import LikenessAPIError
from likeness.client.live import AudioChunk, LiveSession, Segment, run_session, stream_session
from likeness.client.schemas import ConsentCheck, Generation, GenerationPage, Partner, SessionState, SessionTicket

Status = Literal["queued", "running", "released", "cancelled", "failed"]


class Client:
    """A partner's blocking client of ``/v1`` (one ``httpx.Client``; close it, or use ``with``)."""

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(**_core.http_options(base_url=self.base_url, api_key=api_key, timeout=timeout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[M]) -> M:
        try:
            response = self._http.send(call.request(self._http))
        except httpx.HTTPError as exc:
            raise _core.connection_error(exc, path=call.path) from None
        return call.parse(response)

    def create_generation(self, *, portrait: Media, audio: Media, consent_id: str, purpose: str,
                          transcript: str | None = None, idempotency_key: str | None = None,
                          **controls: Unpack[Controls]) -> Generation:
        """Ask for a video (``POST /v1/generations``): the gate decides at once, the job runs in the background.

        ``portrait`` and ``audio`` are paths or bytes; ``controls`` are the generator's (``emotion``, ``gaze``,
        ``intensity``, ``zoom``, ``still_head``, ``seed``). With an ``idempotency_key`` a retry of the same
        request answers the job made before; the same key with another request raises ``StateConflictError``.
        """
        return self._send(_core.generation_call(portrait=portrait, audio=audio, consent_id=consent_id,
                                                purpose=purpose, transcript=transcript,
                                                idempotency_key=idempotency_key, controls=controls))

    def get_generation(self, generation_id: str) -> Generation:
        """One of the partner's jobs (another partner's id raises ``ResourceNotFoundError``, like a wrong one)."""
        return self._send(_core.generation_get(generation_id))

    def list_generations(self, *, limit: int = 50, before: datetime | None = None,
                         status: Status | None = None) -> GenerationPage:
        """The partner's jobs, newest first; ``page.next_before`` fetches the next page."""
        return self._send(_core.list_call(limit=limit, before=before, status=status))

    def wait(self, generation_id: str, *, timeout_s: float = 600.0, poll_s: float = 1.0) -> Generation:
        """Poll until the job ends: the released job, or ``GenerationFailedError`` (failed or cancelled,
        with the job's error) or ``WaitTimeoutError`` past ``timeout_s``. A server error, a broken
        connection or a 429 on the way is retried (after its ``Retry-After``) until ``timeout_s``."""
        poll = Poll(generation_id, timeout_s=timeout_s, poll_s=poll_s)
        while not isinstance(step := poll.step(self._look(generation_id)), Generation):
            time.sleep(step)
        return step

    def _look(self, generation_id: str) -> Generation | LikenessAPIError:
        try:
            return self.get_generation(generation_id)
        except _core.TRANSIENT as exc:
            return exc

    def download(self, generation_id: str, *, dest: str | os.PathLike[str]) -> Path:
        """The released video, streamed to a temp file beside ``dest`` (a file, or a folder: ``{id}.mp4`` in it),
        checked against ``X-Content-SHA256`` and renamed into place; the path written."""
        path = _core.video_path(generation_id)
        try:
            with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    _core.check(response)
                with Download(dest, generation_id=generation_id, response=response) as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise _core.connection_error(exc, path=path) from None
        return out.path

    def check_consent(self, consent_id: str, *, purpose: str) -> ConsentCheck:
        """Whether the consent covers this partner for ``purpose`` now (no generation is made)."""
        return self._send(_core.consent_call(consent_id, purpose=purpose))

    def me(self) -> Partner:
        """The calling partner: use cases, quota used and left, rate, the key's scopes."""
        return self._send(_core.me_call())

    def open_session(self, *, portrait: Media, consent_id: str, purpose: str, max_seconds: float | None = None,
                     segment_seconds: float | None = None, **controls: Unpack[Controls]) -> SessionTicket:
        """Open a live session (``POST /v1/sessions``, the job's gate); hand ``ticket.token`` to who streams."""
        return self._send(_core.session_call(portrait=portrait, consent_id=consent_id, purpose=purpose,
                                             max_seconds=max_seconds, segment_seconds=segment_seconds,
                                             controls=controls))

    def get_session(self, session_id: str) -> SessionState:
        """A live session as it stands (``open``, ``streaming``, ``closed``)."""
        return self._send(_core.session_get(session_id))

    def end_session(self, session_id: str) -> SessionState:
        """End a running session from the partner's backend (``ended_by_partner``; the recording is released)."""
        return self._send(_core.session_end(session_id))


class AsyncClient:
    """A partner's asyncio client of ``/v1``: :class:`Client`'s methods as coroutines, plus live streaming.

    ``await client.open_session(…)`` returns a ticket; ``client.stream(ticket)`` opens its WebSocket
    (:func:`likeness.client.live.stream_session`) and ``client.run_session(chunks, ticket=ticket)`` turns
    an async iterator of audio chunks into one of video segments (:func:`likeness.client.live.run_session`).
    """

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(**_core.http_options(base_url=self.base_url, api_key=api_key,
                                                            timeout=timeout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[M]) -> M:
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.HTTPError as exc:
            raise _core.connection_error(exc, path=call.path) from None
        return call.parse(response)

    async def create_generation(self, *, portrait: Media, audio: Media, consent_id: str, purpose: str,
                                transcript: str | None = None, idempotency_key: str | None = None,
                                **controls: Unpack[Controls]) -> Generation:
        """As :meth:`Client.create_generation`."""
        return await self._send(_core.generation_call(
            portrait=portrait, audio=audio, consent_id=consent_id, purpose=purpose, transcript=transcript,
            idempotency_key=idempotency_key, controls=controls))

    async def get_generation(self, generation_id: str) -> Generation:
        """As :meth:`Client.get_generation`."""
        return await self._send(_core.generation_get(generation_id))

    async def list_generations(self, *, limit: int = 50, before: datetime | None = None,
                               status: Status | None = None) -> GenerationPage:
        """As :meth:`Client.list_generations`."""
        return await self._send(_core.list_call(limit=limit, before=before, status=status))

    async def wait(self, generation_id: str, *, timeout_s: float = 600.0, poll_s: float = 1.0) -> Generation:
        """As :meth:`Client.wait` (sleeps with ``asyncio.sleep``)."""
        poll = Poll(generation_id, timeout_s=timeout_s, poll_s=poll_s)
        while not isinstance(step := poll.step(await self._look(generation_id)), Generation):
            await asyncio.sleep(step)
        return step

    async def _look(self, generation_id: str) -> Generation | LikenessAPIError:
        try:
            return await self.get_generation(generation_id)
        except _core.TRANSIENT as exc:
            return exc

    async def download(self, generation_id: str, *, dest: str | os.PathLike[str]) -> Path:
        """As :meth:`Client.download`."""
        path = _core.video_path(generation_id)
        try:
            async with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    await response.aread()
                    _core.check(response)
                with Download(dest, generation_id=generation_id, response=response) as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise _core.connection_error(exc, path=path) from None
        return out.path

    async def check_consent(self, consent_id: str, *, purpose: str) -> ConsentCheck:
        """As :meth:`Client.check_consent`."""
        return await self._send(_core.consent_call(consent_id, purpose=purpose))

    async def me(self) -> Partner:
        """As :meth:`Client.me`."""
        return await self._send(_core.me_call())

    async def open_session(self, *, portrait: Media, consent_id: str, purpose: str,
                           max_seconds: float | None = None, segment_seconds: float | None = None,
                           **controls: Unpack[Controls]) -> SessionTicket:
        """As :meth:`Client.open_session`."""
        return await self._send(_core.session_call(
            portrait=portrait, consent_id=consent_id, purpose=purpose, max_seconds=max_seconds,
            segment_seconds=segment_seconds, controls=controls))

    async def get_session(self, session_id: str) -> SessionState:
        """As :meth:`Client.get_session`."""
        return await self._send(_core.session_get(session_id))

    async def end_session(self, session_id: str) -> SessionState:
        """As :meth:`Client.end_session`."""
        return await self._send(_core.session_end(session_id))

    def stream(self, ticket: SessionTicket | str, *, session_id: str | None = None) -> LiveSession:
        """The live stream of a session on this server (``async with client.stream(ticket) as live``)."""
        return stream_session(ticket, base_url=self.base_url, session_id=session_id)

    def run_session(self, audio_chunks: AsyncIterable[AudioChunk], *,
                    ticket: SessionTicket | str, session_id: str | None = None) -> AsyncIterator[Segment]:
        """Segments from audio chunks on this server: :func:`likeness.client.live.run_session`."""
        return run_session(audio_chunks, ticket=ticket, base_url=self.base_url, session_id=session_id)


__all__ = ["AsyncClient", "Client"]
