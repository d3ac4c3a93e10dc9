"""The client against a real gateway (tests/gateway's factories: uvicorn in a thread, a real database, real
faces and jobs): a gateway whose jobs run, one whose jobs wait, the key of a partner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from gateway_factories import alice, bob, live_gateway, speech_wav  # noqa: F401  (fixtures)

from gateway.settings import Settings


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """``likeness serve`` in a thread: jobs run in the background, as a partner sees them."""
    with live_gateway(Settings.for_tests(tmp_path_factory.mktemp("gw") / "var")) as live:
        yield live


@pytest.fixture(scope="module")
def idle_gateway(tmp_path_factory):
    """A gateway whose jobs stay queued until a test runs the worker itself."""
    with live_gateway(Settings.for_tests(tmp_path_factory.mktemp("idle") / "var"), run_jobs=False) as live:
        yield live


@pytest.fixture(scope="module")
def acme(gateway) -> str:
    """The API key of the partner ``acme`` (use case ``education``)."""
    return gateway.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)[1].plaintext


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    return speech_wav("Hello, this is a short lesson.", tmp_path_factory.mktemp("s") / "s.wav")
