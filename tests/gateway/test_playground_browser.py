"""``/playground`` in a real browser against a real gateway: Playwright driving Debian's chromium.

A partner's backend opens a session through the API (``POST /v1/sessions`` with its key); the
test pastes the session id and token into the page as a partner would and presses Start.
Chromium's fake microphone plays espeak-ng speech (a 16 kHz WAV written by the test), the page
streams it and plays the signed segments with Media Source Extensions: the video must play at
512 px, every segment read "signed · watermarked", and End must give the ``released`` status.
A second session runs through a WebSocket route that flips one byte of one segment on the way:
the page must say that segment is not verified (and it refuses a stream URL on another host). A
third streams an audio file, paced at real time. The token never shows up in a URL, a cookie or
web storage. The screenshot goes to ``$LIKENESS_PLAYGROUND_SCREENSHOT`` when set.
"""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gateway_factories import generation_form, jpeg, live_gateway, needs_shared_data, register_consent

from gateway.settings import Settings
from media import read_audio
from speech import synthesise_speech

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
SPEECH = ("Hello, and welcome to the Likeness playground. This face is speaking live, one short signed segment "
          "at a time, while the words are still arriving.")
STATE = """() => ({
  connection: document.getElementById('connection').textContent,
  segments: Number(document.getElementById('segments').textContent),
  frames: Number(document.getElementById('frames').textContent),
  latency: document.getElementById('latency').textContent,
  provenance: document.getElementById('provenance').textContent,
  warning: document.getElementById('provenance-alert').textContent,
  error: document.getElementById('error').textContent,
  ended: !document.getElementById('ended').hidden,
  endedStatus: document.getElementById('ended-status').textContent,
  endedReason: document.getElementById('ended-reason').textContent,
  endedVideo: document.getElementById('ended-video').textContent,
  currentTime: document.getElementById('video').currentTime,
  videoWidth: document.getElementById('video').videoWidth,
  videoHeight: document.getElementById('video').videoHeight,
  stored: localStorage.length + sessionStorage.length,
  cookie: document.cookie,
})"""

pytestmark = [needs_shared_data,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run does)")]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    settings = Settings.for_tests(tmp_path_factory.mktemp("playground-e2e") / "var")
    with live_gateway(settings, run_jobs=False) as live:
        yield live


@pytest.fixture(scope="module")
def acme(gateway) -> str:
    _, issued = gateway.runtime.partners.add("acme", use_cases=["education"], quota=100, rate_per_minute=1000)
    return issued.plaintext


@pytest.fixture(scope="module")
def alice_consent(gateway, alice) -> str:
    return register_consent(gateway.runtime, alice)[0]


@pytest.fixture(scope="module")
def microphone(tmp_path_factory) -> Path:
    """espeak-ng speech as the 16 kHz mono 16-bit WAV chromium's fake microphone plays (in a loop)."""
    folder = tmp_path_factory.mktemp("microphone")
    audio = read_audio(synthesise_speech(SPEECH, dest=folder / "espeak.wav"), sample_rate=16000, mono=True)
    pcm = np.clip(audio.samples[0] * 32767, -32768, 32767).astype("<i2")
    path = folder / "microphone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path


def _open_session(gateway, key: str, *, consent_id: str, portrait: bytes) -> dict[str, Any]:
    """What a partner's backend does: ``POST /v1/sessions`` with its key; the session with its token."""
    with gateway.client(key) as client:
        opened = client.post("/v1/sessions", data=generation_form(consent_id=consent_id),
                             files={"portrait": ("portrait.jpg", portrait, "image/jpeg")})
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


def _wait(page, condition, *, timeout: float, what: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Poll the page's state until ``condition(state)`` (page.wait_for_timeout keeps Playwright's events flowing)."""
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(STATE)
        if condition(state):
            return dict(state)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {state}")
        page.wait_for_timeout(200)


def _start(page, url: str, session: dict[str, Any], *, use_stream_url: bool = False) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/playground")
    page.get_by_label("Session id or stream URL").fill(session["stream_url"] if use_stream_url else session["id"])
    page.get_by_label("Session token").fill(session["token"])
    page.get_by_label("Microphone").check()
    page.get_by_role("button", name="Start", exact=True).click()


def _screenshot_path(tmp_path: Path) -> Path:
    chosen = os.environ.get("LIKENESS_PLAYGROUND_SCREENSHOT")
    path = Path(chosen) if chosen else tmp_path / "playground.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_partner_streams_the_microphone_and_watches_signed_segments(gateway, acme, alice, alice_consent,
                                                                      microphone, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    session = _open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[0]))
    token = session["token"]
    sockets: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=[*ARGS, f"--use-file-for-fake-audio-capture={microphone}"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("websocket", lambda ws: sockets.append(ws.url))
            _start(page, gateway.url, session, use_stream_url=True)

            playing = _wait(page, lambda s: s["segments"] >= 3 and s["currentTime"] > 1.0 and s["videoWidth"] > 0
                            and "signed · watermarked" in s["provenance"], timeout=120, what="the video to play")
            assert playing["connection"] == "streaming" and playing["error"] == "", playing
            assert playing["videoWidth"] == 512, playing
            assert playing["frames"] > 0 and playing["warning"] == "", playing
            assert playing["latency"].endswith(" ms"), playing  # measured from the speech the page sent
            later = _wait(page, lambda s: s["currentTime"] > playing["currentTime"] + 0.5, timeout=20,
                          what="the video to advance")
            assert later["segments"] >= playing["segments"]

            page.get_by_role("button", name="End", exact=True).click()
            ended = _wait(page, lambda s: s["ended"] and s["connection"].startswith("closed"), timeout=180,
                          what="the ended event and the close")
            assert ended["endedStatus"] == "released", ended
            assert "client_ended" in ended["endedReason"], ended
            assert f"/v1/generations/{session['id']}/video" in ended["endedVideo"], ended
            assert ended["connection"] == "closed (1000)" and ended["error"] == "", ended
            assert "signed · watermarked" in ended["provenance"] and ended["warning"] == "", ended
            page.screenshot(path=str(_screenshot_path(tmp_path)), full_page=True)

            # the token went in the handshake only: not in the page's URL, the socket's URL, storage or cookies
            assert sockets == [f"{gateway.url.replace('http', 'ws')}/v1/sessions/{session['id']}/stream"]
            assert token not in page.url and ended["stored"] == 0 and ended["cookie"] == ""
            assert page.get_by_label("Session token").input_value() == ""  # cleared once the stream was opened
        finally:
            browser.close()
    with gateway.client(acme) as client:
        after = client.get(f"/v1/sessions/{session['id']}").json()
    assert after["status"] == "closed" and after["segments"] == ended["segments"], after


def test_a_segment_altered_on_the_way_is_shown_as_not_verified(gateway, acme, alice, alice_consent, microphone):
    sync_api = pytest.importorskip("playwright.sync_api")
    session = _open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[1]))
    seen = {"segments": 0}
    sockets: list[str] = []

    def flip_second_segment(route) -> None:  # type: ignore[no-untyped-def]
        server = route.connect_to_server()
        route.on_message(server.send)

        def to_page(message: str | bytes) -> None:
            if isinstance(message, bytes):
                seen["segments"] += 1
                if seen["segments"] == 2:
                    message = message[:-1] + bytes([message[-1] ^ 1])
            route.send(message)

        server.on_message(to_page)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=[*ARGS, f"--use-file-for-fake-audio-capture={microphone}"])
        try:
            page = browser.new_page()
            page.route_web_socket("**/v1/sessions/*/stream", flip_second_segment)
            page.on("websocket", lambda ws: sockets.append(ws.url))
            elsewhere = dict(session, stream_url=f"wss://elsewhere.example/v1/sessions/{session['id']}/stream")
            _start(page, gateway.url, elsewhere, use_stream_url=True)  # the token is for this gateway only
            refused = _wait(page, lambda s: s["error"] != "", timeout=10, what="the refusal")
            assert "connects only to the gateway that serves it" in refused["error"], refused
            assert sockets == [] and refused["connection"] == "not connected", refused
            _start(page, gateway.url, session)
            warned = _wait(page, lambda s: s["segments"] >= 3 and s["warning"] != "", timeout=120,
                           what="the warning")
            assert "segment 2 is not verified" in warned["warning"], warned
            assert "SHA-256 differs" in warned["warning"], warned
            assert warned["provenance"].startswith("⚠ 1 of"), warned
            rows = {row.split("\t")[0]: row for row in page.locator("#segment-rows tr").all_inner_texts()}
            assert rows["2"].endswith("⚠ not verified: the bytes' SHA-256 differs from the announced one"), rows
            assert rows["1"].endswith("signed · watermarked"), rows
            page.get_by_role("button", name="End", exact=True).click()
            _wait(page, lambda s: s["connection"].startswith("closed"), timeout=180, what="the close")
        finally:
            browser.close()


def test_an_audio_file_is_decoded_and_sent_at_real_time_pace(gateway, acme, alice, alice_consent, microphone):
    sync_api = pytest.importorskip("playwright.sync_api")
    session = _open_session(gateway, acme, consent_id=alice_consent, portrait=jpeg(alice.portraits[2]))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{gateway.url}/playground")
            page.get_by_label("Session id or stream URL").fill(session["id"])
            page.get_by_label("Session token").fill(session["token"])
            page.get_by_label("An audio file").check()
            page.get_by_label("Audio file", exact=True).set_input_files(str(microphone))
            page.get_by_role("button", name="Start", exact=True).click()
            started = time.monotonic()
            first = _wait(page, lambda s: s["segments"] >= 2 and s["currentTime"] > 0.5, timeout=120,
                          what="the file's first segments")
            sent = float(page.locator("#sent").inner_text().removesuffix(" s"))
            assert sent <= time.monotonic() - started + 0.5, sent  # paced at real time, not sent at once
            assert first["videoWidth"] == 512 and "signed · watermarked" in first["provenance"], first
            assert first["latency"].endswith(" ms"), first
            page.get_by_role("button", name="End", exact=True).click()
            ended = _wait(page, lambda s: s["ended"] and s["connection"].startswith("closed"), timeout=180,
                          what="the ended event")
            assert ended["endedStatus"] == "released" and ended["error"] == "", ended

            page.get_by_label("Session token").fill(session["token"])  # spent: the handshake is refused
            page.get_by_role("button", name="Start", exact=True).click()
            refused = _wait(page, lambda s: s["error"] != "", timeout=30, what="the refusal")
            assert "refused the connection" in refused["error"] and "already used" in refused["error"], refused
        finally:
            browser.close()
