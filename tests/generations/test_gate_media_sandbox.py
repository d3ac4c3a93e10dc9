"""The gate decodes uploads in the media sandbox: hostile media costs one request, never the server.

Over real HTTP: a 7000×7000 PNG portrait (a small file that would decode to 147 MiB) is refused
413 ``portrait_too_large`` from its header; 7.1 AAC speech (which crashed PyAV 18.1 in-process)
decodes, so the request goes on to the face check; the server answers the next request.
"""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from gateway_factories import generation_form, jpeg, live_gateway, needs_shared_data, register_consent
from PIL import Image

from gateway.settings import Settings

pytestmark = needs_shared_data


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = Settings.for_tests(tmp_path_factory.mktemp("gw") / "var", max_media_seconds=20.0)
    with live_gateway(settings) as live:
        yield live


@pytest.fixture(scope="module")
def consent_and_key(gateway, alice):  # type: ignore[no-untyped-def]
    consent_id = register_consent(gateway.runtime, alice)[0]
    _, issued = gateway.runtime.partners.add("acme", use_cases=["education"], quota=100, rate_per_minute=1000)
    return consent_id, issued.plaintext


def _seven_one_aac(path) -> bytes:  # type: ignore[no-untyped-def]
    """One second of 7.1 AAC speech-band noise in an M4A (written packed: never a planar 8-channel frame)."""
    rate = 48_000
    noise = (np.random.default_rng(1).uniform(-0.2, 0.2, (1, rate * 8)) * 32767).astype(np.int16)
    with av.open(str(path), mode="w", format="ipod") as out:
        stream = out.add_stream("aac", rate=rate, layout="7.1")
        for start in range(0, rate, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(noise[:, start * 8:(start + 1024) * 8]),
                                               format="s16", layout="7.1")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


def _post(gateway, key: str, consent_id: str, *, portrait: bytes, audio: bytes, audio_name: str):  # type: ignore[no-untyped-def]
    with gateway.client(key) as client:
        return client.post("/v1/generations", data=generation_form(consent_id=consent_id), files={
            "portrait": ("portrait.png", portrait, "image/png"), "audio": (audio_name, audio, "audio/mp4")})


def test_hostile_uploads_cost_one_request(gateway, consent_and_key, tmp_path):
    consent_id, key = consent_and_key
    speech = _seven_one_aac(tmp_path / "speech.m4a")
    buffer = io.BytesIO()
    Image.new("L", (7000, 7000)).save(buffer, format="PNG")
    response = _post(gateway, key, consent_id, portrait=buffer.getvalue(), audio=speech,
                     audio_name="speech.m4a")
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "portrait_too_large"
    assert "7000x7000" in response.json()["error"]["message"]

    faceless = jpeg(np.full((400, 400, 3), 128, np.uint8))
    response = _post(gateway, key, consent_id, portrait=faceless, audio=speech, audio_name="speech.m4a")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "portrait_face"  # the 7.1 audio was read: the face check refused
