"""Live sessions against a real server: uvicorn on loopback, a real database, real faces, a real WebSocket.

The partner's key opens a session (the gate of a job), the token opens the stream, speech goes in
as PCM, signed and watermarked segments come out, and the recording is released as a normal
generation. Then every way a session is refused or ends: no key, no token, a wrong, spent or
expired token, a full server, a withdrawn consent, a suspended partner, a lowered quota,
malformed and oversize messages, idleness and a client that disconnects — each ends with its
code and reason, is logged, and leaves nothing unmarked and nothing half-recorded.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gateway_factories import jpeg, live_gateway, needs_shared_data, register_consent, speech_wav
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from audit import AuditKind
from gateway.settings import Settings
from provenance import segment_chain, verify_mp4, verify_segments

pytestmark = needs_shared_data

CHUNK = 3_200  # 100 ms of 16 kHz s16le


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    settings = Settings.for_tests(tmp_path_factory.mktemp("live") / "var", live_max_sessions=2,
                                  live_idle_timeout_s=3.0, live_segment_seconds=0.5)
    with live_gateway(settings) as live:
        yield live


@pytest.fixture(scope="module")
def consent(gateway, alice) -> tuple[str, str]:
    """Alice's one consent (a second one of the same face would make every match ambiguous)."""
    return register_consent(gateway.runtime, alice, partners=["acme", "acme-suspended", "acme-quota"])


@pytest.fixture(scope="module")
def acme(gateway) -> str:
    _, issued = gateway.runtime.partners.add("acme", use_cases=["education"], quota=100, rate_per_minute=1000)
    return str(issued.plaintext)


@pytest.fixture(scope="module")
def pcm(tmp_path_factory) -> bytes:
    """Three seconds of speech as 16 kHz mono s16le (espeak-ng)."""
    wav = speech_wav("Hello there. Maybe bring the paper book to class.", tmp_path_factory.mktemp("s") / "s.wav")
    with wave.open(io.BytesIO(wav)) as reader:
        rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, "<i2").astype(np.float32)
    resampled = np.interp(np.arange(0, samples.size, rate / 16000), np.arange(samples.size), samples)
    return resampled.astype("<i2").tobytes()


def open_session(gateway, key: str, *, consent_id: str, portrait: np.ndarray, **form: Any) -> dict[str, Any]:
    with gateway.client(key) as client:
        response = client.post("/v1/sessions", data={"consent_id": consent_id, "purpose": "education",
                                                      **{k: str(v) for k, v in form.items()}},
                               files={"portrait": ("p.jpg", jpeg(portrait), "image/jpeg")})
    assert response.status_code == 201, response.text
    return dict(response.json())


def ws_url(gateway, session: dict[str, Any]) -> str:
    return gateway.url.replace("http://", "ws://") + session["stream_url"]


def stream(gateway, session: dict[str, Any], *, token: str | None = None,
           subprotocol: bool = False) -> ClientConnection:
    token = token or session["token"]
    if subprotocol:
        return connect(ws_url(gateway, session), subprotocols=["likeness.live.v1", f"token.{token}"],  # type: ignore[list-item]
                       open_timeout=30)
    return connect(ws_url(gateway, session), additional_headers={"Authorization": f"Bearer {token}"},
                   open_timeout=30)


def collect(ws: ClientConnection, *, timeout_s: float = 120) -> tuple[list[dict[str, Any]], list[bytes], int | None]:
    """Every message until the close: the JSON events, the segments' bytes, and the close code."""
    events: list[dict[str, Any]] = []
    segments: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = ws.recv(timeout=deadline - time.monotonic())
            if isinstance(message, bytes):
                assert events and events[-1]["type"] == "segment", "a segment's bytes follow its JSON"
                segments.append(message)
            else:
                events.append(json.loads(message))
    except ConnectionClosed:
        pass
    return events, segments, ws.close_code


def send_speech(ws: ClientConnection, pcm: bytes, *, seconds: float | None = None, real_time: bool = False) -> None:
    end = len(pcm) if seconds is None else int(seconds * 32000)
    started = time.monotonic()
    for at in range(0, end, CHUNK):
        if real_time:  # as a microphone would: 100 ms of speech every 100 ms
            time.sleep(max(0.0, started + at / 32000 - time.monotonic()))
        ws.send(pcm[at:at + CHUNK])


def audit_kinds(gateway, generation_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.data) for e in gateway.runtime.audit_log.search(generation_id=generation_id)]


# ---------------------------------------------------------------------- the session that works


def test_a_session_streams_signed_watermarked_segments_and_releases_its_recording(gateway, consent, acme, alice, pcm,
                                                                                   tmp_path):
    consent_id, _ = consent
    session = open_session(gateway, acme, consent_id=consent_id, portrait=alice.portraits[0])
    assert session["status"] == "open" and session["token"].startswith("lks_") and session["id"].startswith("gen_")
    with stream(gateway, session, subprotocol=True) as ws:
        assert ws.subprotocol == "likeness.live.v1"
        send_speech(ws, pcm)
        ws.send(json.dumps({"type": "ping"}))
        ws.send(json.dumps({"type": "end"}))
        events, segments, code = collect(ws)
    assert code == 1000
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ready" and kinds[-1] == "ended" and "pong" in kinds
    ready, ended = events[0], events[-1]
    assert ready["generation_id"] == session["id"] and ready["sample_rate"] == 16000 and ready["fps"] == 25
    metas = [e for e in events if e["type"] == "segment"]
    assert len(metas) == len(segments) >= 5
    assert [m["sequence"] for m in metas] == list(range(1, len(metas) + 1))
    for meta, data in zip(metas, segments, strict=True):
        assert hashlib.sha256(data).hexdigest() == meta["sha256"] and len(data) == meta["bytes"]
        assert meta["mime"].startswith('video/mp4; codecs="avc1.')
    # every frame rendered is in a segment: 3 s of speech at 25 fps, the first frame and the last
    frames = sum(m["frames"] for m in metas)
    assert frames == ended["frames"] == round(len(pcm) / 32000 * 25 + 0.499)
    assert ended["status"] == "released" and ended["reason"] == "client_ended"
    assert ended["segments"] == len(segments)
    assert ended["chain_head"] == segment_chain(f"urn:likeness:session:{session['id']}",
                                                [m["sha256"] for m in metas])[-1]
    # each segment alone reads trusted; together they verify as one unbroken stream
    anchors = gateway.runtime.settings.resolved_trust_anchors_file.read_bytes()
    paths = []
    for i, data in enumerate(segments):
        path = tmp_path / f"seg{i}.mp4"
        path.write_bytes(data)
        paths.append(path)
    first = verify_mp4(paths[0], trust_anchors_pem=anchors)
    assert first.state == "trusted" and first.generation_id == session["id"]
    verdict = verify_segments(paths, trust_anchors_pem=anchors, stream_id=f"urn:likeness:session:{session['id']}",
                              chain_head=ended["chain_head"])
    assert verdict.ok, verdict.to_dict()
    # the recording is a normal generation
    with gateway.client(acme) as client:
        job = client.get(f"/v1/generations/{session['id']}").json()
        assert job["status"] == "released" and ended["video_url"] == job["video_url"]
        video = client.get(job["video_url"])
        assert video.status_code == 200 and hashlib.sha256(video.content).hexdigest() == job["output_sha256"]
        state = client.get(f"/v1/sessions/{session['id']}").json()
    assert state["status"] == "closed" and state["end_reason"] == "client_ended"
    assert state["segments"] == len(segments) and state["chain_head"] == ended["chain_head"]
    (tmp_path / "rec.mp4").write_bytes(video.content)
    recording = verify_mp4(tmp_path / "rec.mp4", trust_anchors_pem=anchors)
    assert recording.state == "trusted" and recording.generation_id == session["id"]
    # logged like a generation, with the hash chain at close; the person sees a live session
    logged = audit_kinds(gateway, session["id"])
    names = [k for k, _ in logged]
    assert names.index(AuditKind.SESSION_OPENED) < names.index(AuditKind.GENERATION_RELEASED) \
        < names.index(AuditKind.SESSION_CLOSED)
    closed = dict(logged)[AuditKind.SESSION_CLOSED]
    assert closed["chain_head"] == ended["chain_head"] and closed["segments"] == len(segments)
    assert closed["status"] == "released" and session["token"] not in json.dumps([d for _, d in logged])
    uses = gateway.runtime.registry.generations_for(consent_id, token=consent[1])
    assert [(u.generation_id, u.kind, u.output_deleted_at) for u in uses if u.generation_id == session["id"]] == [
        (session["id"], "live", None)]
    # nothing of the session is left in its working folder
    assert _no_session_folders_left(gateway)


def test_text_is_spoken_by_the_offline_voice(gateway, consent, acme, alice):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[1])
    with stream(gateway, session) as ws:
        ws.send(json.dumps({"type": "text", "text": "Good morning."}))
        ws.send(json.dumps({"type": "end"}))
        events, segments, code = collect(ws)
    assert code == 1000 and events[-1]["status"] == "released" and len(segments) >= 1
    assert events[-1]["audio_seconds"] > 0.5


# ---------------------------------------------------------------------- refused before a byte of speech


def test_opening_needs_the_api_key_and_the_stream_needs_the_session_token(gateway, consent, acme, alice):
    with gateway.client() as anonymous:
        assert anonymous.post("/v1/sessions", data={"consent_id": consent[0], "purpose": "education"}).status_code \
            == 401
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with gateway.client(session["token"]) as client:  # a session token is no API key
        assert client.get("/v1/me").status_code == 401
    refusals = {}
    for name, headers in (("none", {}), ("wrong", {"Authorization": "Bearer lks_" + "A" * 43}),
                          ("api key", {"Authorization": f"Bearer {acme}"})):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(gateway, session), additional_headers=headers, open_timeout=10)
        refusals[name] = (refused.value.response.status_code,
                          json.loads(refused.value.response.body or b"{}")["error"]["code"])
    assert refusals == {"none": (401, "unauthenticated"), "wrong": (401, "unauthenticated"),
                        "api key": (401, "unauthenticated")}
    with stream(gateway, session) as ws:  # the token is spent when the stream opens
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        with pytest.raises(InvalidStatus) as again:
            stream(gateway, session)
        assert again.value.response.status_code == 409
        ws.send(json.dumps({"type": "end"}))
        events, _, code = collect(ws)
    assert events[-1]["status"] == "cancelled" and code == 1000  # no speech: nothing to release


def test_an_expired_token_opens_nothing(gateway, consent, acme, alice):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with gateway.runtime.engine.begin() as conn:  # the token's two minutes have passed
        conn.execute(text("UPDATE live_sessions SET token_expires_at = '2020-01-01 00:00:00' WHERE id = :id"),
                     {"id": session["id"]})
    with pytest.raises(InvalidStatus) as refused:
        stream(gateway, session)
    body = json.loads(refused.value.response.body)
    assert refused.value.response.status_code == 401 and body["error"]["code"] == "token_expired"
    assert session["token"] not in refused.value.response.body.decode()


def test_a_full_server_refuses_the_third_stream(gateway, consent, acme, alice):
    sessions = [open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0]) for _ in range(3)]
    with stream(gateway, sessions[0]) as first, stream(gateway, sessions[1]) as second:
        with pytest.raises(InvalidStatus) as refused:
            stream(gateway, sessions[2])
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "5"
        with gateway.client(acme) as client:
            busy = client.post("/v1/sessions", data={"consent_id": consent[0], "purpose": "education"},
                               files={"portrait": ("p.jpg", jpeg(alice.portraits[0]), "image/jpeg")})
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "live_capacity"
        for ws in (first, second):
            ws.send(json.dumps({"type": "end"}))
            collect(ws)
    with stream(gateway, sessions[2]) as third:  # room again
        assert json.loads(third.recv(timeout=30))["type"] == "ready"


# ---------------------------------------------------------------------- ended mid-session


def _ended_within(ws: ClientConnection, pcm: bytes, act, *, within_s: float) -> tuple[list[dict[str, Any]], int | None,
                                                                                       float]:
    """Stream speech, ``act()`` once the first segment arrived, and time how long until the ``ended`` event."""
    send_speech(ws, pcm, seconds=1.5)
    events: list[dict[str, Any]] = []
    acted_at = None
    try:
        while True:
            message = ws.recv(timeout=60)
            if isinstance(message, bytes):
                if acted_at is None:
                    act()
                    acted_at = time.monotonic()
                    send_speech(ws, pcm)
                continue
            event = json.loads(message)
            events.append(event)
            if event["type"] == "ended":
                assert acted_at is not None
                took = time.monotonic() - acted_at
                assert took <= within_s, f"ended {took:.2f} s after the change"
                break
        ws.recv(timeout=10)
    except ConnectionClosed:
        pass
    return events, ws.close_code, took


def test_revoking_the_consent_ends_a_running_session_within_a_second(gateway, acme, bob, pcm):
    consent_id, token = register_consent(gateway.runtime, bob)
    session = open_session(gateway, acme, consent_id=consent_id, portrait=bob.portraits[0])
    with stream(gateway, session) as ws:
        events, code, _ = _ended_within(ws, pcm, lambda: gateway.runtime.registry.revoke(
            consent_id, token=token, reason="changed my mind"), within_s=1.0)
    ended = events[-1]
    assert code == 4403 and ended["reason"] == "consent_withdrawn" and ended["status"] == "cancelled"
    assert ended["video_url"] is None
    with gateway.client(acme) as client:
        job = client.get(f"/v1/generations/{session['id']}").json()
    assert job["status"] == "cancelled" and job["error_code"] == "consent_withdrawn"
    assert not gateway.runtime.blobs.output_path(session["id"]).exists()
    closed = dict(audit_kinds(gateway, session["id"]))[AuditKind.SESSION_CLOSED]
    assert closed["reason"] == "consent_withdrawn" and closed["segments"] >= 1 and closed["chain_head"]
    uses = gateway.runtime.registry.generations_for(consent_id, token=token)
    use = [u for u in uses if u.generation_id == session["id"]]
    assert use and use[0].kind == "live" and "no recording kept" in (use[0].output_deleted_reason or "")


def test_suspending_the_partner_ends_its_sessions(gateway, consent, alice, pcm):
    runtime = gateway.runtime
    _, issued = runtime.partners.add("acme-suspended", use_cases=["education"], quota=10, rate_per_minute=1000)
    session = open_session(gateway, issued.plaintext, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session) as ws:
        events, code, _ = _ended_within(ws, pcm, lambda: runtime.partners.suspend(
            "acme-suspended", reason="investigation"), within_s=1.0)
    assert code == 4403 and events[-1]["reason"] == "partner_suspended"


def test_a_lowered_quota_ends_the_session_and_a_spent_quota_refuses_the_next(gateway, consent, alice, pcm):
    runtime = gateway.runtime
    _, issued = runtime.partners.add("acme-quota", use_cases=["education"], quota=1, rate_per_minute=1000)
    consent_id = consent[0]
    session = open_session(gateway, issued.plaintext, consent_id=consent_id, portrait=alice.portraits[0])
    with gateway.client(issued.plaintext) as client:
        second = client.post("/v1/sessions", data={"consent_id": consent_id, "purpose": "education"},
                             files={"portrait": ("p.jpg", jpeg(alice.portraits[0]), "image/jpeg")})
    assert second.status_code == 429 and second.json()["error"]["code"] == "quota_exhausted"
    with stream(gateway, session) as ws:
        events, code, _ = _ended_within(ws, pcm, lambda: runtime.partners.set_limits("acme-quota", quota=0),
                                        within_s=1.0)
    assert code == 4429 and events[-1]["reason"] == "quota_exhausted"


# ---------------------------------------------------------------------- bad clients


@pytest.mark.parametrize(("message", "code", "reason"), [
    (b"\x01\x02\x03", 4400, "bad_message"),                   # odd: not 16-bit PCM
    (b"\x00" * 40_000, 4413, "message_too_large"),             # more than a second
    (b"\x00" * 70_000, 1009, None),                            # over the server's frame limit: never buffered
    ('{"type": "dance"}', 4400, "bad_message"),
    ("not json", 4400, "bad_message"),
    ('{"type": "text", "text": ""}', 4400, "bad_message"),
])
def test_a_malformed_message_closes_with_its_code_and_keeps_what_was_sent(gateway, consent, acme, alice, pcm,
                                                                         message, code, reason):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session) as ws:
        send_speech(ws, pcm, seconds=1.0)
        ws.send(message)
        events, segments, closed = collect(ws)
    assert closed == code
    if reason is None:  # refused by the WebSocket layer: the session ends as a disconnect, its recording kept
        assert _closed_state(gateway, acme, session["id"])["end_reason"] == "client_disconnected"
        return
    error = [e for e in events if e["type"] == "error"]
    assert error and error[0]["code"] == reason and events[-1]["reason"] == reason
    # what was rendered before the bad message is released, so every segment sent is on record
    assert events[-1]["status"] == "released" and events[-1]["segments"] == len(segments) >= 1


def test_an_idle_stream_is_closed(gateway, consent, acme, alice, pcm):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session) as ws:
        send_speech(ws, pcm, seconds=1.0)
        started = time.monotonic()
        events, _, code = collect(ws)
    assert code == 4408 and events[-1]["reason"] == "idle" and 2.5 < time.monotonic() - started < 30


def test_a_client_that_disconnects_mid_segment_leaves_a_released_recording_and_no_files(gateway, consent, acme,
                                                                                       alice, pcm):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session) as ws:
        send_speech(ws, pcm, seconds=1.3)  # 1.3 s: the third 0.5 s segment is half rendered
        ws.recv(timeout=30)
    state = _closed_state(gateway, acme, session["id"])
    with gateway.client(acme) as client:
        job = client.get(f"/v1/generations/{session['id']}").json()
    assert state["end_reason"] == "client_disconnected"
    assert job["status"] == "released" and job["duration_s"] == pytest.approx(1.3, abs=0.05)
    assert _no_session_folders_left(gateway)
    assert list(Path(gateway.runtime.settings.data_dir).rglob("*.partial")) == []


def _no_session_folders_left(gateway, *, within_s: float = 30) -> bool:
    """No live session's working folder remains (other tests' sessions may still be closing: wait for them)."""
    deadline = time.monotonic() + within_s
    while any((gateway.runtime.settings.data_dir / "live").glob(".live-*")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _closed_state(gateway, key: str, session_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    with gateway.client(key) as client:
        while (state := client.get(f"/v1/sessions/{session_id}").json())["status"] != "closed":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    return dict(state)


def test_a_client_faster_than_real_time_is_slowed_to_it(gateway, consent, acme, alice, pcm):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session) as ws:
        json.loads(ws.recv(timeout=30))
        started = time.monotonic()
        long = pcm * 2  # ~6 s of speech, sent as fast as the socket takes it
        send_speech(ws, long)
        ws.send(json.dumps({"type": "end"}))
        events, _, code = collect(ws)
    seconds = len(long) / 32000
    # read no more than max_ahead_s (2 s) ahead of real time: the whole took at least seconds - 2
    assert code == 1000 and time.monotonic() - started >= seconds - 2.0 - 0.3
    assert events[-1]["audio_seconds"] == pytest.approx(seconds, abs=0.01)


def test_a_portrait_of_ordinary_size_opens_a_session(gateway, consent, acme, alice):
    """The route's body cap is the upload limit (a phone photo), not the 64 KiB of the JSON routes."""
    from PIL import Image

    big = np.asarray(Image.fromarray(alice.portraits[0]).resize((1024, 1024), Image.Resampling.LANCZOS))
    noisy = np.clip(big.astype(np.int16) + np.random.default_rng(0).integers(-6, 7, big.shape), 0, 255)
    photo = jpeg(noisy.astype(np.uint8))
    assert len(photo) > 200_000
    with gateway.client(acme) as client:
        response = client.post("/v1/sessions", data={"consent_id": consent[0], "purpose": "education"},
                               files={"portrait": ("p.jpg", photo, "image/jpeg")})
    assert response.status_code == 201, response.text


def test_a_client_gone_before_speaking_leaves_a_cancelled_session_and_no_files(gateway, consent, acme, alice):
    session = open_session(gateway, acme, consent_id=consent[0], portrait=alice.portraits[0])
    with stream(gateway, session):
        pass  # connected, then closed at once
    state = _closed_state(gateway, acme, session["id"])
    with gateway.client(acme) as client:
        job = client.get(f"/v1/generations/{session['id']}").json()
    assert state["end_reason"] == "client_disconnected" and state["segments"] == 0
    assert job["status"] == "cancelled" and job["error_code"] == "empty_session"  # nothing made: no quota spent
    assert _no_session_folders_left(gateway)


def test_the_stream_stays_alive_through_a_close_longer_than_the_keepalive(tmp_path_factory, alice, pcm):
    """uvicorn reads the socket (and so the client's pongs) only while the app takes messages: a server that stopped
    reading after `end` lost long sessions to its own keepalive while their recording was being released (a 10-minute
    session's release takes ~2 minutes; the keepalive gives up after 20 s). Here the keepalive gives up after 0.5 s."""
    settings = Settings.for_tests(tmp_path_factory.mktemp("keepalive") / "var")
    with live_gateway(settings, ws_ping_interval=0.5, ws_ping_timeout=0.5) as quick:
        consent_id, _ = register_consent(quick.runtime, alice)
        _, issued = quick.runtime.partners.add("acme", use_cases=["education"], quota=10, rate_per_minute=100)
        session = open_session(quick, issued.plaintext, consent_id=consent_id, portrait=alice.portraits[0])
        with stream(quick, session) as ws, ThreadPoolExecutor(1) as pool:
            received = pool.submit(collect, ws)  # a client reads while it speaks (else its own queue stops it)
            send_speech(ws, pcm * 3, real_time=True)  # ~9 s: its recording's release takes longer than 2 s
            ws.send(json.dumps({"type": "end"}))
            events, _, code = received.result(timeout=120)
    assert code == 1000 and events[-1]["type"] == "ended" and events[-1]["status"] == "released", (code, events[-2:])
