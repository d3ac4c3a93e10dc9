"""LIKENESS_GENERATOR_BACKEND everywhere: the setting, the worker it builds, and a partner job on the learned backend.

A real gateway (uvicorn on loopback, real database, real faces, real jobs) with the setting on
``learned``: a partner's job is made by the learned backend, and the clip says so in its C2PA
claim and in `detect`'s report, as an analyst reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from gateway_factories import (
    jpeg,
    live_gateway,
    needs_shared_data,
    register_consent,
    speech_wav,
    submit_generation,
    wait_for,
)
from pydantic import ValidationError

from gateway.errors import SettingsError
from gateway.settings import Settings, get_settings
from generator import Generator, available_backends


def test_the_setting_names_exactly_the_registered_backends():
    field = Settings.model_fields["generator_backend"]
    assert list(typing.get_args(field.annotation)) == available_backends()
    assert field.default == "default"
    assert Settings(generator_backend="learned").generator_backend == "learned"


def test_an_unknown_backend_is_refused(monkeypatch):
    with pytest.raises(ValidationError):
        Settings(generator_backend="vasa")
    monkeypatch.setenv("LIKENESS_GENERATOR_BACKEND", "vasa")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(refused.value) == "invalid settings: LIKENESS_GENERATOR_BACKEND: Input should be 'default' or 'learned'"


@needs_shared_data
def test_a_partner_job_on_the_learned_backend_says_so_in_the_manifest_and_in_detect(tmp_path, alice):
    settings = Settings.for_tests(tmp_path / "var", max_media_seconds=20.0, generator_backend="learned")
    audio = speech_wav("Hello, this is a short lesson about the planets.", tmp_path / "s.wav")
    with live_gateway(settings) as gateway:
        worker = gateway.runtime.worker
        assert worker is not None and isinstance(worker.generator, Generator)
        assert worker.generator.name == "learned"
        consent_id, _ = register_consent(gateway.runtime, alice)
        _, issued = gateway.runtime.partners.add("acme", use_cases=["education"], quota=10, rate_per_minute=100)
        with gateway.client(issued.plaintext) as client:
            job_id = submit_generation(client, consent_id=consent_id, portrait=jpeg(alice.portraits[0]), audio=audio)
            done = wait_for(client, job_id)
            assert done["status"] == "released", done
            video = client.get(done["video_url"])
        assert video.status_code == 200
        clip = tmp_path / "out.mp4"
        clip.write_bytes(video.content)
        detect = Path(sys.executable).with_name("detect")
        env = {**os.environ, "LIKENESS_DATA_DIR": str(settings.data_dir)}
        ran = subprocess.run([str(detect), str(clip), "--json"], capture_output=True, text=True, env=env, timeout=300)
        as_text = subprocess.run([str(detect), str(clip)], capture_output=True, text=True, env=env, timeout=300,
                                 check=False)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["c2pa"]["state"] == "trusted" and report["c2pa"]["generation_id"] == done["id"]
    assert report["c2pa"]["generator"]["name"] == "likeness-generator-learned"
    assert report["c2pa"]["generator"]["version"] == worker.generator.version
    assert report["manifest_lookup"]["record"]["generator"] == report["c2pa"]["generator"]
    assert report["verdict"] == "generated-by-likeness"
    assert as_text.returncode == 0 and "generator likeness-generator-learned" in " ".join(as_text.stdout.split())
