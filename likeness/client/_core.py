"""What the sync and async clients share: the calls (method, path, fields, answer shape), polling, downloads.

Both clients build the same :class:`Call` and parse the answer the same way; only sending differs
(``httpx.Client.send`` or ``await httpx.AsyncClient.send``), so each public method is written once here.

>>> call = generation_call(portrait=b"jpeg", audio=b"wav", consent_id="cns_1", purpose="education",
...                        transcript=None, idempotency_key="order-42", controls={"emotion": "happy", "seed": 3})
>>> call.method, call.path, call.data, call.headers
('POST', '/v1/generations', {'consent_id': 'cns_1', 'purpose': 'education', 'emotion': 'happy', 'seed': '3'}, \
{'Idempotency-Key': 'order-42'})
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Literal, TypedDict, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from likeness import __version__
from likeness.client.errors import (
    APIConnectionError,
    ClientInputError,
    GenerationFailedError,
    IntegrityError,
    LikenessAPIError,
    RateLimitError,
    ServerError,
    WaitTimeoutError,
    error_from_response,
)
from likeness.client.schemas import ConsentCheck, Generation, GenerationPage, Partner, SessionState, SessionTicket

M = TypeVar("M", bound=BaseModel)
Media = str | os.PathLike[str] | bytes | bytearray | memoryview
USER_AGENT = f"likeness-client/{__version__} httpx/{httpx.__version__}"
_TOKEN = re.compile(r"^[\x21-\x7e]{8,512}$")


class Controls(TypedDict, total=False):
    """The generator's controls, as a job or a session takes them (all optional)."""

    emotion: Literal["neutral", "happy", "sad", "surprised", "angry"]
    gaze: Literal["camera", "free"]
    intensity: float
    zoom: float
    still_head: bool
    seed: int


@dataclass(frozen=True)
class Call(Generic[M]):
    """One request of the API and the shape of its answer."""

    method: str
    path: str
    model: type[M]
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(self.method, self.path, params=self.params, json=self.json, data=self.data,
                                  files=self.files, headers=self.headers)

    def parse(self, response: httpx.Response) -> M:
        """The answer as ``model``, or the error it stands for."""
        check(response)
        try:
            return self.model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ServerError(f"the server's answer to {self.method} {self.path} is not a {self.model.__name__}: "
                              f"{exc.error_count()} problems", status=response.status_code,
                              code="unexpected_answer") from None


def http_options(*, base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    """The keyword arguments of ``httpx.Client`` / ``httpx.AsyncClient`` for this API and key."""
    if not isinstance(api_key, str) or not _TOKEN.match(api_key):
        raise ClientInputError("the API key must be the printable token `likeness partners add` showed "
                               "(8 to 512 characters, no spaces)", code="api_key_format")
    if not base_url.startswith(("http://", "https://")):
        raise ClientInputError(f"base_url must start with http:// or https://, not {base_url[:40]!r}",
                               code="base_url")
    return {"base_url": base_url, "timeout": httpx.Timeout(timeout),
            "headers": {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}}


def check(response: httpx.Response) -> None:
    """Raise the error an answer stands for (its body must have been read)."""
    if response.status_code >= 400:
        raise error_from_response(response.status_code, body=response.content, headers=response.headers)


def connection_error(exc: httpx.HTTPError, *, path: str) -> APIConnectionError:
    """An httpx failure in words, without its request (which holds the key)."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return APIConnectionError(f"{path}: the request {kind}: {type(exc).__name__}", code="connection")


def read_media(value: Media, *, role: str) -> tuple[str, bytes, str]:
    """A multipart file from a path or bytes; the server sniffs the type by content."""
    if isinstance(value, bytes | bytearray | memoryview):
        return (role, bytes(value), "application/octet-stream")
    path = Path(value)
    try:
        return (path.name, path.read_bytes(), "application/octet-stream")
    except OSError as exc:
        raise ClientInputError(f"cannot read the {role} file {path}: {exc.strerror}",
                               code=f"{role}_unreadable") from None


def _form(fields: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items() if v is not None}


def generation_call(*, portrait: Media, audio: Media, consent_id: str, purpose: str, transcript: str | None,
                    idempotency_key: str | None, controls: Controls) -> Call[Generation]:
    data = _form({"consent_id": consent_id, "purpose": purpose, "transcript": transcript, **controls})
    files = {"portrait": read_media(portrait, role="portrait"), "audio": read_media(audio, role="audio")}
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return Call("POST", "/v1/generations", Generation, data=data, files=files, headers=headers)


def session_call(*, portrait: Media, consent_id: str, purpose: str, max_seconds: float | None,
                 segment_seconds: float | None, controls: Controls) -> Call[SessionTicket]:
    data = _form({"consent_id": consent_id, "purpose": purpose, "max_seconds": max_seconds,
                  "segment_seconds": segment_seconds, **controls})
    return Call("POST", "/v1/sessions", SessionTicket, data=data,
                files={"portrait": read_media(portrait, role="portrait")})


def list_call(*, limit: int, before: datetime | None, status: str | None) -> Call[GenerationPage]:
    params = _form({"limit": limit, "before": before.isoformat() if before else None, "status": status})
    return Call("GET", "/v1/generations", GenerationPage, params=params)


def generation_get(generation_id: str) -> Call[Generation]:
    return Call("GET", f"/v1/generations/{_id(generation_id)}", Generation)


def consent_call(consent_id: str, *, purpose: str) -> Call[ConsentCheck]:
    return Call("POST", f"/v1/consents/{_id(consent_id)}/check", ConsentCheck, json={"purpose": purpose})


def me_call() -> Call[Partner]:
    return Call("GET", "/v1/me", Partner)


def session_get(session_id: str) -> Call[SessionState]:
    return Call("GET", f"/v1/sessions/{_id(session_id)}", SessionState)


def session_end(session_id: str) -> Call[SessionState]:
    return Call("POST", f"/v1/sessions/{_id(session_id)}/end", SessionState)


def video_path(generation_id: str) -> str:
    return f"/v1/generations/{_id(generation_id)}/video"


def _id(value: str) -> str:
    """An id as a path segment: letters, digits and ``_`` only (no ``/``, ``..`` or ``?`` smuggled into the URL)."""
    if not re.fullmatch(r"[A-Za-z0-9_]{1,100}", value or ""):
        raise ClientInputError(f"not an id: {value[:40]!r}", code="bad_id")
    return value


# Errors that ``wait()`` outlasts (a server restarting, a busy minute) until its deadline
TRANSIENT = (ServerError, APIConnectionError, RateLimitError)


class Poll:
    """``wait()``'s clock: how long to sleep before the next look, and what a final status means."""

    def __init__(self, generation_id: str, *, timeout_s: float, poll_s: float) -> None:
        if poll_s <= 0 or timeout_s < 0:
            raise ClientInputError("poll_s must be > 0 and timeout_s >= 0", code="wait_arguments")
        self.generation_id = generation_id
        self.poll_s = poll_s
        self.deadline = time.monotonic() + timeout_s
        self.timeout_s = timeout_s

    def step(self, look: Generation | LikenessAPIError) -> Generation | float:
        """The job once released, else the seconds to sleep; raises if it failed or was cancelled, or past the deadline.

        ``look`` is the job, or a transient error (:data:`TRANSIENT`) met while asking for it: retried
        after ``Retry-After`` or ``poll_s`` until the deadline, then raised.
        """
        left = self.deadline - time.monotonic()
        if isinstance(look, LikenessAPIError):
            if left <= 0:
                raise look
            return min(look.retry_after_s or self.poll_s, left)
        if look.status == "released":
            return look
        if look.is_final:
            raise GenerationFailedError(f"generation {look.id} was {look.status}: {look.error or 'no reason given'}",
                                        generation=look, code=look.error_code or look.status)
        if left <= 0:
            raise WaitTimeoutError(f"generation {look.id} is still {look.status} after {self.timeout_s:g} s",
                                   code="wait_timeout")
        return min(self.poll_s, left)


class Download:
    """A video on its way to ``dest``: a temp file beside it, hashed as written, renamed once the hash holds.

    Any failure (the connection, the hash, the disk) removes the temp file; ``dest`` is only ever the
    whole, checked video.
    """

    def __init__(self, dest: str | os.PathLike[str], *, generation_id: str, response: httpx.Response) -> None:
        target = Path(dest)
        self.path = target / f"{generation_id}.mp4" if target.is_dir() else target
        self.expected = response.headers.get("X-Content-SHA256", "").strip().lower()
        length = response.headers.get("Content-Length")
        self.length = int(length) if length and length.isdigit() else None
        self.hash = hashlib.sha256()
        self.size = 0
        self.generation_id = generation_id

    def __enter__(self) -> Download:
        if not re.fullmatch(r"[0-9a-f]{64}", self.expected):
            raise IntegrityError(f"the video of {self.generation_id} came without its X-Content-SHA256: not kept",
                                 code="missing_sha256")
        try:
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        except OSError as exc:
            raise ClientInputError(f"cannot write beside {self.path}: {exc.strerror}", code="dest_unwritable") from None
        self.temp = Path(name)
        self.file = os.fdopen(fd, "wb")
        return self

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hash.update(chunk)
        self.size += len(chunk)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.file.close() if exc_type is not None else self._finish()
        except BaseException:
            self.temp.unlink(missing_ok=True)
            raise
        if exc_type is not None:
            self.temp.unlink(missing_ok=True)

    def _finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if self.length is not None and self.size != self.length:
            raise IntegrityError(f"the video of {self.generation_id} was cut short ({self.size} of {self.length} "
                                 "bytes): not kept", code="truncated")
        if self.hash.hexdigest() != self.expected:
            raise IntegrityError(f"the video of {self.generation_id} does not match its X-Content-SHA256: not kept",
                                 code="sha256_mismatch")
        os.replace(self.temp, self.path)


__all__ = [
    "TRANSIENT",
    "USER_AGENT",
    "Call",
    "Controls",
    "Download",
    "Media",
    "Poll",
    "check",
    "connection_error",
    "consent_call",
    "generation_call",
    "generation_get",
    "http_options",
    "list_call",
    "me_call",
    "read_media",
    "session_call",
    "session_end",
    "session_get",
    "video_path",
]
