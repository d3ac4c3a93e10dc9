"""Fixtures of the gateway tests: the people of the shared clips (from gateway_factories, shared with
tests/generations) and the partner service on a clock the test moves (from partner_factories, shared with
tests/partners)."""

from __future__ import annotations

from gateway_factories import alice, bob  # noqa: F401  (fixtures)
from partner_factories import clock, service  # noqa: F401  (fixtures)
