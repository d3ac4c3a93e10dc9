"""Schemathesis against the partner API's own OpenAPI schema, over real HTTP: no generated request gets a 5xx,
and every answer conforms to the schema (status codes, content types, bodies).

Schemathesis's pytest plugin does not run under pytest 9, so each operation's Hypothesis strategy is
driven here directly: one parametrised test per operation of the schema.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from gateway_factories import live_gateway, needs_shared_data, register_consent
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.admin import api as admin_api
from gateway.api import router as partner_api
from gateway.settings import Settings

pytestmark = needs_shared_data

FORGED = "Bearer lk_live_AAAAAAAAAA_" + "x" * 43
# A schema-valid upload may still be no portrait (an empty or random file): the media and face checks that
# refuse it with 413/415/422 are about content no schema can express, so "valid data is accepted" is not
# asked of POST /v1/generations; every other check (no 5xx, status codes, content types, bodies) is.
CONTENT_CHECKED = {"POST /v1/generations"}


def _operations() -> list[str]:
    """The operations the schema documents: those of the partner API and the admin API (the pages are not in it)."""
    app = FastAPI()
    app.include_router(partner_api)
    app.include_router(admin_api)
    spec = app.openapi()
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


@pytest.fixture(scope="module")
def live(tmp_path_factory, alice):
    with live_gateway(Settings.for_tests(tmp_path_factory.mktemp("schema") / "var", max_upload_bytes=256 * 1024),
                      run_jobs=False) as gw:
        _, issued = gw.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=100_000,
                                            quota=100_000)
        register_consent(gw.runtime, alice)
        gw.key = issued.plaintext  # type: ignore[attr-defined]
        gw.admin = gw.runtime.partners.add_admin("reviewer").plaintext  # type: ignore[attr-defined]
        yield gw


@pytest.fixture(scope="module")
def api_schema(live):
    with urllib.request.urlopen(f"{live.url}/openapi.json") as handle:
        raw = json.load(handle)
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=live.url)
    return {f"{op.method.upper()} {op.path}": op for op in (r.ok() for r in schema.get_all_operations())}


def _for_generated_requests(operation, *, examples: int, check: Callable[[Any], None]) -> None:
    """``check`` on ``examples`` requests that hypothesis builds from the operation's schema."""
    strategy = given(case=operation.as_strategy())
    settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)(
        strategy(check))()


@pytest.mark.parametrize("operation", _operations())
def test_no_generated_request_breaks_the_api(operation, api_schema, live):
    def check(case):
        excluded = [positive_data_acceptance] if operation in CONTENT_CHECKED else []
        key = live.admin if operation.split()[1].startswith("/admin/") else live.key
        response = case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {key}"},
                                          excluded_checks=excluded)
        assert response.status_code < 500

    _for_generated_requests(api_schema[operation], examples=30, check=check)


@pytest.mark.parametrize("operation", _operations())
def test_no_generated_request_gets_in_with_a_forged_key(operation, api_schema, live):
    def check(case):
        response = case.call(base_url=live.url, headers={"Authorization": FORGED})
        assert response.status_code in (401, 422), response.text

    _for_generated_requests(api_schema[operation], examples=10, check=check)
