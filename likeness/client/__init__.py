"""The Python client of the partner API: jobs over HTTP, live sessions over WebSocket (``likeness.client``).

>>> from likeness.client import Client, LikenessAPIError, PermissionDeniedError
>>> from likeness.errors import ForbiddenError
>>> issubclass(PermissionDeniedError, ForbiddenError) and issubclass(PermissionDeniedError, LikenessAPIError)
True
>>> Client(base_url="http://127.0.0.1:9", api_key="lk_live_not_shown")
Client(base_url='http://127.0.0.1:9')

A job, end to end (``docs/client.md`` has more)::

    from likeness.client import Client

    with Client(base_url="https://likeness.example", api_key=KEY) as client:
        job = client.create_generation(portrait="face.jpg", audio="speech.wav",
                                       consent_id="cns_…", purpose="education")
        client.wait(job.id)
        client.download(job.id, dest="out.mp4")

A live session: :class:`AsyncClient` opens it with the key; :func:`stream_session` (or
:func:`run_session`) streams it with the one-time token of its :class:`SessionTicket`.
"""

from likeness.client._core import Controls
from likeness.client.errors import (
    APIConnectionError,
    AuthenticationError,
    ClientInputError,
    GenerationFailedError,
    GoneError,
    IntegrityError,
    LikenessAPIError,
    PayloadError,
    PermissionDeniedError,
    RateLimitError,
    Reason,
    ResourceNotFoundError,
    ServerError,
    SessionTimeoutError,
    StateConflictError,
    WaitTimeoutError,
)
from likeness.client.live import (
    Ended,
    Error,
    Event,
    LiveSession,
    Notice,
    Pong,
    Ready,
    Segment,
    pcm16,
    run_session,
    stream_session,
)
from likeness.client.rest import AsyncClient, Client
from likeness.client.schemas import (
    ConsentCheck,
    Decision,
    Generation,
    GenerationPage,
    Partner,
    SessionState,
    SessionTicket,
)

__all__ = [
    "APIConnectionError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ClientInputError",
    "ConsentCheck",
    "Controls",
    "Decision",
    "Ended",
    "Error",
    "Event",
    "Generation",
    "GenerationFailedError",
    "GenerationPage",
    "GoneError",
    "IntegrityError",
    "LikenessAPIError",
    "LiveSession",
    "Notice",
    "Partner",
    "PayloadError",
    "PermissionDeniedError",
    "Pong",
    "RateLimitError",
    "Ready",
    "Reason",
    "ResourceNotFoundError",
    "Segment",
    "ServerError",
    "SessionState",
    "SessionTicket",
    "SessionTimeoutError",
    "StateConflictError",
    "WaitTimeoutError",
    "pcm16",
    "run_session",
    "stream_session",
]
