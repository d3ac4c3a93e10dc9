"""Live sessions through the client against a real gateway, as docs/sessions.md states the contract.

A partner's backend opens a session with its key; the client streams speech over the WebSocket with the
one-time token and receives signed segments (each trusted alone, together a chain), then ``ended`` and a
released recording that downloads like a job's. The token is spent once and is in no URL or message; a
message the protocol does not have, one too large, a consent withdrawn mid-stream and the partner ending the
session each end the stream as the contract says, raised as the client's error of that kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator

import numpy as np
import pytest
from bmff_boxes import top_level_boxes
from gateway_factories import jpeg, needs_shared_data, register_consent

from gateway.deps import provenance_identity
from likeness.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    Ended,
    Error,
    PayloadError,
    PermissionDeniedError,
    Pong,
    Ready,
    ResourceNotFoundError,
    Segment,
    SessionTicket,
    StateConflictError,
    run_session,
    stream_session,
)
from media import read_audio
from provenance import verify_segments

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def alice_consent(gateway, alice) -> str:
    return register_consent(gateway.runtime, alice)[0]


@pytest.fixture(scope="module")
def pcm(speech) -> np.ndarray:
    """The module's sentence as the stream takes it: 16 kHz mono (floats; the client makes them s16le)."""
    return read_audio(speech, sample_rate=16_000, mono=True).samples[0]


def open_session(gateway, key: str, *, consent_id: str, portrait: bytes, **options) -> SessionTicket:
    with Client(base_url=gateway.url, api_key=key) as client:
        return client.open_session(portrait=portrait, consent_id=consent_id, purpose="education", **options)


async def drain(live, *, into: list | None = None) -> None:
    """Read the stream to its end (or its error), keeping the events in ``into``."""
    async for event in live:
        if into is not None:
            into.append(event)


async def chunks(pcm: np.ndarray, *, seconds: float = 0.25, real_time: bool = False) -> AsyncIterator[np.ndarray]:
    step = int(16_000 * seconds)
    for start in range(0, len(pcm), step):
        yield pcm[start:start + step]
        if real_time:
            await asyncio.sleep(seconds)


def test_a_session_streams_signed_segments_then_releases_the_recording(gateway, acme, alice, alice_consent, pcm,
                                                                       tmp_path):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[0]),
                          segment_seconds=0.5)
    assert ticket.id.startswith("gen_") and ticket.status == "open" and ticket.token.startswith("lks_")
    assert ticket.stream_url == f"/v1/sessions/{ticket.id}/stream" and ticket.sample_rate == 16_000
    assert ticket.decision.allowed and ticket.token not in repr(ticket)

    async def collect() -> list[Segment]:
        return [segment async for segment in run_session(chunks(pcm), ticket=ticket, base_url=gateway.url)]

    segments = asyncio.run(collect())
    assert segments and [s.sequence for s in segments] == list(range(segments[0].sequence,
                                                                     segments[0].sequence + len(segments)))
    assert all(b.first_frame == a.first_frame + a.frames for a, b in itertools.pairwise(segments))
    assert all(a.received_at <= b.received_at for a, b in itertools.pairwise(segments))
    paths = []
    for segment in segments:
        assert hashlib.sha256(segment.data).hexdigest() == segment.sha256 and len(segment.data) == segment.size
        assert top_level_boxes(segment.data)[0] == "ftyp" and "moof" in top_level_boxes(segment.data)
        paths.append(tmp_path / f"segment{segment.sequence}.mp4")
        paths[-1].write_bytes(segment.data)
    anchors = provenance_identity(gateway.settings).trust_anchors_pem
    assert verify_segments(paths, trust_anchors_pem=anchors, generation_id=ticket.id).ok
    # the session is a generation: released, downloadable like a job's video
    with Client(base_url=gateway.url, api_key=acme) as client:
        job = client.wait(ticket.id, timeout_s=120, poll_s=0.2)
        video = client.download(ticket.id, dest=tmp_path / "recording.mp4")
    assert job.status == "released" and hashlib.sha256(video.read_bytes()).hexdigest() == job.output_sha256


def test_the_events_of_a_session_in_order_with_timings(gateway, acme, alice, alice_consent, pcm):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[1]))

    async def scenario():
        async with stream_session(ticket, base_url=gateway.url) as live:
            await live.send_audio(pcm[: 16_000])
            await live.say("And now a few words.")
            await live.end()
            events = [event async for event in live]
        return live, events

    live, events = asyncio.run(scenario())
    assert isinstance(events[0], Ready) and events[0] is live.ready
    assert live.ready.session_id == ticket.id and live.ready.sample_rate == 16_000 and live.ready.fps > 0
    assert live.ready.max_message_bytes <= 32_000 and live.ready.mime.startswith("video/mp4")
    ended = events[-1]
    assert isinstance(ended, Ended) and ended is live.ended
    assert ended.reason == "client_ended" and ended.status == "released" and ended.generation_id == ticket.id
    assert ended.video_url and ended.chain_head
    segments = [e for e in events if isinstance(e, Segment)]
    assert len(segments) == ended.segments and sum(s.frames for s in segments) == ended.frames
    assert live.audio_sent_s == pytest.approx(1.0)
    first = segments[0]  # within the second of audio sent (the text's speech comes after it)
    sent = live.audio_sent_at(first.start_s + first.duration_s)
    assert live.audio_sent_at(0.0) == live.first_audio_at and live.audio_sent_at(1.5) is None
    assert sent is not None and first.received_at > sent >= live.first_audio_at


def test_the_token_opens_one_stream_and_a_wrong_one_none(gateway, acme, alice, alice_consent):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[2]))
    wrong = "lks_" + "x" * 40

    async def scenario():
        with pytest.raises(AuthenticationError) as refused:
            async with stream_session(wrong, base_url=gateway.url, session_id=ticket.id):
                pass
        async with stream_session(ticket, base_url=gateway.url) as live:
            await live.end()
            await drain(live)
        with pytest.raises(StateConflictError) as spent:  # the token was spent: the session is no longer open
            async with stream_session(ticket, base_url=gateway.url):
                pass
        return refused.value, spent.value

    refused, spent = asyncio.run(scenario())
    assert refused.status == 401 and refused.code == "unauthenticated" and wrong not in f"{refused} {refused!r}"
    assert spent.status == 409 and spent.code == "session_not_open" and ticket.token not in f"{spent} {spent!r}"


def test_a_message_the_protocol_does_not_have_closes_4400(gateway, acme, alice, alice_consent):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[0]))

    async def scenario():
        seen = []
        async with stream_session(ticket, base_url=gateway.url) as live:
            await live.send_json({"type": "dance"})
            with pytest.raises(PayloadError) as caught:
                await drain(live, into=seen)
        return seen, caught.value

    seen, err = asyncio.run(scenario())
    assert err.close_code == 4400 and err.code == "bad_message" and err.status == 400
    errors = [e for e in seen if isinstance(e, Error)]
    assert errors and errors[-1].code == "bad_message" and err.message == errors[-1].message


def test_a_message_over_the_limit_closes_4413(gateway, acme, alice, alice_consent):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[1]))

    async def scenario():
        async with stream_session(ticket, base_url=gateway.url) as live:
            await live._send(bytes(live.ready.max_message_bytes + 2))  # send_audio would have cut it in two
            with pytest.raises(PayloadError) as caught:
                await drain(live)
        return caught.value

    err = asyncio.run(scenario())
    assert err.close_code == 4413 and err.code == "message_too_large" and err.status == 413


def test_a_consent_withdrawn_mid_stream_ends_it_with_4403(gateway, acme, bob, pcm):
    consent_id, token = register_consent(gateway.runtime, bob)
    ticket = open_session(gateway, acme, consent_id=consent_id, portrait=jpeg(bob.portraits[0]))
    long_speech = np.concatenate([pcm] * 4)

    received = []

    async def stream() -> None:
        async for segment in run_session(chunks(long_speech, real_time=True), ticket=ticket, base_url=gateway.url):
            received.append(segment)
            if len(received) == 1:
                gateway.runtime.registry.revoke(consent_id, token=token, reason="stop now")

    async def scenario():
        with pytest.raises(PermissionDeniedError) as caught:
            await stream()
        return caught.value

    err = asyncio.run(scenario())
    assert err.close_code == 4403 and err.code == "consent_withdrawn" and err.status == 403
    assert 1 <= len(received) <= 4  # checked every 0.25 s, ended within 1 s
    with Client(base_url=gateway.url, api_key=acme) as client:
        assert client.get_generation(ticket.id).status == "cancelled"


def test_the_partner_ends_a_running_session(gateway, acme, alice, alice_consent, pcm):
    async def scenario():
        async with AsyncClient(base_url=gateway.url, api_key=acme) as client:
            ticket = await client.open_session(portrait=jpeg(alice.portraits[2]), consent_id=alice_consent,
                                               purpose="education")
            async with client.stream(ticket) as live:
                await live.send_audio(pcm)
                state = await client.get_session(ticket.id)
                await client.end_session(ticket.id)
                events = [event async for event in live]
        return ticket, state, events

    ticket, state, events = asyncio.run(scenario())
    assert state.id == ticket.id and state.status == "streaming" and state.consent_id == alice_consent
    assert isinstance(events[-1], Ended) and events[-1].reason == "ended_by_partner"
    assert events[-1].status == "released"
    with Client(base_url=gateway.url, api_key=acme) as client:
        closed = client.get_session(ticket.id)
    assert closed.status == "closed" and closed.end_reason == "ended_by_partner"
    assert closed.generation_status == "released" and closed.video_url == f"/v1/generations/{ticket.id}/video"
    assert closed.segments == sum(isinstance(e, Segment) for e in events) and closed.chain_head


def test_an_interrupt_and_a_ping_leave_the_session_going(gateway, acme, alice, alice_consent, pcm):
    ticket = open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[0]))

    async def scenario():
        async with stream_session(ticket, base_url=gateway.url) as live:
            await live.send_audio(pcm)
            await live.interrupt()  # what was not rendered yet is dropped
            await live.ping()
            await live.send_audio(pcm[: 8_000])
            await live.end()
            return [event async for event in live]

    events = asyncio.run(scenario())
    assert any(isinstance(e, Pong) for e in events)
    assert isinstance(events[-1], Ended) and events[-1].reason == "client_ended" and events[-1].status == "released"


def test_an_unknown_consent_opens_no_session(gateway, acme, alice):
    with pytest.raises(ResourceNotFoundError) as caught:
        open_session(gateway, acme, consent_id="cns_" + "cd" * 16, portrait=jpeg(alice.portraits[0]))
    assert caught.value.code == "consent_unknown"
