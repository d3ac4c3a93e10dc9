"""The factories of tests/gateway (a live gateway, partners, people, media) serve these tests too, and
these fixtures: the people of the shared clips, a short sentence spoken, and a gateway whose jobs wait."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))

from gateway_factories import alice, bob, live_gateway, speech_wav  # noqa: F401  (alice, bob: fixtures)

from gateway.settings import Settings


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    return speech_wav("Welcome to the lesson.", tmp_path_factory.mktemp("s") / "short.wav")


@pytest.fixture
def idle_gateway(tmp_path):
    """A gateway whose jobs wait in the queue, with a partner (its key: ``gw.key``): the test runs the worker."""
    with live_gateway(Settings.for_tests(tmp_path / "var"), run_jobs=False) as gw:
        _, issued = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)
        gw.key = issued.plaintext  # type: ignore[attr-defined]
        yield gw
