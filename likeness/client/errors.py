"""The client's errors: what the API refused (status, code, reasons), or why it could not be asked.

>>> err = error_from_response(429, body={"error": {"code": "rate_limited", "message": "slow down",
...                                                  "reasons": [], "policy_version": None}},
...                           headers={"Retry-After": "7"})
>>> type(err).__name__, err.status, err.code, err.retry_after_s, str(err)
('RateLimitError', 429, 'rate_limited', 7.0, 'slow down (429 rate_limited)')
>>> err = error_from_close(4403, reason="consent_withdrawn")
>>> isinstance(err, PermissionDeniedError), err.close_code, err.code
(True, 4403, 'consent_withdrawn')

Every error derives from :class:`LikenessAPIError` (itself a :class:`likeness.LikenessError`) and,
where one fits, from the kind of failure it is (:mod:`likeness.errors`), so ``except ForbiddenError``
catches a policy refusal whether the gate or the client raised it. The tree::

    LikenessAPIError              status, code, message, reasons, policy_version, retry_after_s, request_id
    ├── AuthenticationError       401: no key, an unknown, revoked or expired key, a spent or expired session token
    ├── PermissionDeniedError     403 / close 4403: scope, suspended partner, a policy refusal, consent withdrawn
    ├── ResourceNotFoundError     404: no generation of yours, no such consent
    ├── StateConflictError        409: not ready yet, idempotency conflict, session not open
    ├── GoneError                 410: the job ended without a video, or the video was withdrawn
    ├── PayloadError              400 / 413 / 415 / 422 / close 4400, 4413: the request or a message as sent
    ├── RateLimitError            429 / close 4429: rate or quota (``retry_after_s`` from Retry-After)
    ├── SessionTimeoutError       close 4408: idle, or the client did not read
    ├── ServerError               5xx / close 1011: the service failed (503 with ``retry_after_s``: try later)
    ├── APIConnectionError        the server could not be reached, or the connection broke
    ├── IntegrityError            a download or segment whose bytes fail their SHA-256
    ├── GenerationFailedError     ``wait()``: the job ended ``failed`` or ``cancelled`` (``generation`` holds it)
    ├── WaitTimeoutError          ``wait()``: still running at the deadline (also a ``TimeoutError``)
    └── ClientInputError          an argument refused before anything was sent

No error carries the API key or a session token: messages come from the server's body or are
written here, and ``raise … from None`` drops httpx's exceptions (their requests hold the headers).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from likeness import errors as kinds


@dataclass(frozen=True)
class Reason:
    """Why the API decided: the id of a determining policy (or check) and the same in words."""

    id: str
    text: str


class LikenessAPIError(kinds.LikenessError):
    """The API refused a request, or could not be asked; the fields say what to do about it."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 reasons: tuple[Reason, ...] = (), policy_version: str | None = None,
                 retry_after_s: float | None = None, request_id: str | None = None,
                 close_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.reasons = reasons
        self.policy_version = policy_version
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        self.close_code = close_code

    def __str__(self) -> str:
        where = " ".join(str(x) for x in (self.status or self.close_code, self.code) if x)
        return f"{self.message} ({where})" if where else self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r}, "
                f"reasons={[r.id for r in self.reasons]!r}, retry_after_s={self.retry_after_s!r})")


class AuthenticationError(LikenessAPIError):
    """The key (or session token) was missing, unknown, revoked or expired (401)."""

    http_status = 401


class PermissionDeniedError(kinds.ForbiddenError, LikenessAPIError):
    """The caller may not do this: a scope, a suspended partner, a policy refusal, a consent withdrawn (403)."""


class ResourceNotFoundError(kinds.NotFoundError, LikenessAPIError):
    """No generation, session or consent of the caller's has this id (404)."""


class StateConflictError(kinds.ConflictError, LikenessAPIError):
    """The state disagrees with the request: a job not ready, a reused idempotency key, a session not open (409)."""


class GoneError(LikenessAPIError):
    """There is no video: the job ended without one, or it was deleted or withdrawn (410)."""

    http_status = 410


class PayloadError(kinds.InputError, LikenessAPIError):
    """The request or a streamed message as sent was refused: a field, a file, its size or type (400/413/415/422)."""


class RateLimitError(LikenessAPIError):
    """The partner's rate or quota is spent (429); ``retry_after_s`` says when to try again."""

    http_status = 429


class SessionTimeoutError(LikenessAPIError):
    """A live session was closed for lack of activity, or because the client did not read (4408)."""

    http_status = 408


class ServerError(kinds.InternalError, LikenessAPIError):
    """The service failed or is unavailable (5xx, close 1011); retry later, or tell the operator."""


class APIConnectionError(kinds.InternalError, LikenessAPIError):
    """The server could not be reached, did not answer in time, or the connection broke."""


class IntegrityError(kinds.TamperedError, LikenessAPIError):
    """Bytes received do not match their SHA-256 (a download, a live segment): nothing was kept."""


class GenerationFailedError(LikenessAPIError):
    """The job ended ``failed`` or ``cancelled``: ``generation`` is the job, ``code`` its error code."""

    def __init__(self, message: str, *, generation: Any, code: str | None) -> None:
        super().__init__(message, code=code)
        self.generation = generation


class WaitTimeoutError(LikenessAPIError, TimeoutError):
    """The job had not ended when ``wait()`` gave up; it goes on running on the server."""


class ClientInputError(kinds.InputError, LikenessAPIError):
    """An argument the client refuses before sending anything (a file, an audio array, a key's format)."""


_BY_STATUS: dict[int, type[LikenessAPIError]] = {
    400: PayloadError, 401: AuthenticationError, 403: PermissionDeniedError, 404: ResourceNotFoundError,
    409: StateConflictError, 410: GoneError, 413: PayloadError, 415: PayloadError, 422: PayloadError,
    429: RateLimitError,
}
# close code → (error class, the HTTP status it stands for)
_BY_CLOSE: dict[int, tuple[type[LikenessAPIError], int | None]] = {
    4400: (PayloadError, 400), 4401: (AuthenticationError, 401), 4403: (PermissionDeniedError, 403),
    4408: (SessionTimeoutError, 408), 4413: (PayloadError, 413), 4429: (RateLimitError, 429),
    1011: (ServerError, 500), 1001: (ServerError, 503),
}


def error_class_for(status: int) -> type[LikenessAPIError]:
    """The class of the error an HTTP status stands for."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else LikenessAPIError


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: not sent by this API
        return None


def error_from_response(status: int, *, body: bytes | str | Mapping[str, Any] | None,
                        headers: Mapping[str, str]) -> LikenessAPIError:
    """The error an HTTP answer stands for, from the API's ``{"error": {…}}`` body (or what came instead)."""
    payload: Any = body
    if isinstance(body, bytes | str):
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
    error = payload.get("error") if isinstance(payload, Mapping) else None
    lower = {k.lower(): v for k, v in headers.items()}
    if not isinstance(error, Mapping):
        error = {"code": None, "message": f"the server answered HTTP {status} without an error body"}
    reasons = tuple(Reason(id=str(r.get("id", "")), text=str(r.get("text", "")))
                    for r in error.get("reasons") or () if isinstance(r, Mapping))
    cls = error_class_for(status)
    return cls(str(error.get("message") or f"HTTP {status}"), status=status, code=error.get("code"),
               reasons=reasons, policy_version=error.get("policy_version"),
               retry_after_s=_retry_after(lower.get("retry-after")), request_id=lower.get("x-request-id"))


def error_from_close(close_code: int, *, reason: str, message: str | None = None) -> LikenessAPIError:
    """The error a live session's close stands for: the close reason is the code; ``message`` the server's words."""
    cls, status = _BY_CLOSE.get(close_code, (APIConnectionError, None))
    text = message or f"the live session was closed: {reason or 'no reason given'}"
    return cls(text, status=status, code=reason or None, close_code=close_code)


__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "ClientInputError",
    "GenerationFailedError",
    "GoneError",
    "IntegrityError",
    "LikenessAPIError",
    "PayloadError",
    "PermissionDeniedError",
    "RateLimitError",
    "Reason",
    "ResourceNotFoundError",
    "ServerError",
    "SessionTimeoutError",
    "StateConflictError",
    "WaitTimeoutError",
    "error_class_for",
    "error_from_close",
    "error_from_response",
]
