"""The client's errors against a real gateway whose jobs wait: each refusal is its class with the API's code,
status and reasons; the key is in no message or repr; a job that is not released cannot be waited for or
downloaded; a server that is not there is a connection error."""

from __future__ import annotations

import time

import pytest
from gateway_factories import jpeg, needs_shared_data, register_consent
from live_server import free_port

from likeness.client import (
    APIConnectionError,
    AuthenticationError,
    Client,
    ClientInputError,
    GenerationFailedError,
    GoneError,
    LikenessAPIError,
    PayloadError,
    RateLimitError,
    ResourceNotFoundError,
    StateConflictError,
    WaitTimeoutError,
)
from likeness.errors import ForbiddenError, InputError, NotFoundError

pytestmark = needs_shared_data

UNKNOWN_CONSENT = "cns_" + "ab" * 16


@pytest.fixture(scope="module")
def key(idle_gateway) -> str:
    return idle_gateway.runtime.partners.add("acme", use_cases=["education"], rate_per_minute=1000)[1].plaintext


@pytest.fixture(scope="module")
def client(idle_gateway, key):
    with Client(base_url=idle_gateway.url, api_key=key, timeout=60) as client:
        yield client


def _leaks(err: BaseException, secret: str) -> bool:
    seen = [str(err), repr(err), *map(str, err.args), *map(str, vars(err).values())]
    return any(secret in text for text in seen)


def test_a_wrong_key_is_an_authentication_error_that_does_not_show_the_key(idle_gateway, key):
    wrong = key[:-6] + ("x" * 6 if not key.endswith("x" * 6) else "y" * 6)  # the right prefix, a wrong secret
    client = Client(base_url=idle_gateway.url, api_key=wrong)
    with client, pytest.raises(AuthenticationError) as caught:
        client.me()
    err = caught.value
    assert err.status == 401 and err.code and isinstance(err, LikenessAPIError)
    assert not _leaks(err, wrong) and not _leaks(err, wrong[-20:]) and wrong not in repr(client)
    assert err.request_id  # the gateway's X-Request-Id, to quote to its operator


def test_a_malformed_key_is_refused_before_sending_without_showing_it(idle_gateway):
    secret = "lk_live_abc def\nInjected: 1"
    with pytest.raises(ClientInputError) as caught:
        Client(base_url=idle_gateway.url, api_key=secret)
    assert isinstance(caught.value, InputError) and not _leaks(caught.value, "Injected")


def test_an_unknown_consent_is_not_found_with_its_code_and_reason(client, alice, speech):
    with pytest.raises(ResourceNotFoundError) as caught:
        client.create_generation(portrait=jpeg(alice.portraits[0]), audio=speech, consent_id=UNKNOWN_CONSENT,
                                 purpose="education")
    err = caught.value
    assert isinstance(err, NotFoundError) and err.status == 404 and err.code == "consent_unknown"
    assert [r.id for r in err.reasons] == ["consent-unknown"] and err.reasons[0].text
    with pytest.raises(ResourceNotFoundError):
        client.get_generation("gen_" + "0" * 16)


def test_a_refusal_by_policy_is_forbidden_with_the_policies_that_decided(idle_gateway, client, alice, speech):
    consent_id, _ = register_consent(idle_gateway.runtime, alice)
    with pytest.raises(ForbiddenError) as caught:  # the kernel's kind catches the client's error too
        client.create_generation(portrait=jpeg(alice.portraits[0]), audio=speech, consent_id=consent_id,
                                 purpose="political")
    assert caught.value.status == 403 and caught.value.code
    assert "purpose-prohibited-by-consent" in {r.id for r in caught.value.reasons}
    check = client.check_consent(consent_id, purpose="political")
    assert not check.covered and "purpose-prohibited-by-consent" in {r.id for r in check.reasons}


def test_bad_media_is_a_payload_error(client, speech):
    with pytest.raises(PayloadError) as caught:
        client.create_generation(portrait=speech, audio=speech, consent_id=UNKNOWN_CONSENT, purpose="education")
    assert caught.value.status == 415 and caught.value.code == "portrait_type"
    with pytest.raises(ClientInputError):
        client.create_generation(portrait="/nonexistent/face.jpg", audio=speech, consent_id=UNKNOWN_CONSENT,
                                 purpose="education")


def test_over_the_rate_is_a_rate_limit_error_with_retry_after(idle_gateway):
    key = idle_gateway.runtime.partners.add("hasty", use_cases=["education"], rate_per_minute=2)[1].plaintext
    with Client(base_url=idle_gateway.url, api_key=key) as client:
        client.me()
        client.me()
        with pytest.raises(RateLimitError) as caught:
            client.me()
    err = caught.value
    assert err.status == 429 and err.code == "rate_limited"
    assert err.retry_after_s is not None and 0 < err.retry_after_s <= 60


def test_a_job_that_is_not_released_cannot_be_waited_for_or_downloaded(idle_gateway, client, bob, speech, tmp_path):
    consent_id, token = register_consent(idle_gateway.runtime, bob)
    job = client.create_generation(portrait=jpeg(bob.portraits[0]), audio=speech, consent_id=consent_id,
                                   purpose="education")
    assert job.status == "queued"  # this gateway runs no jobs
    with pytest.raises(StateConflictError) as not_ready:
        client.download(job.id, dest=tmp_path / "early.mp4")
    assert not_ready.value.status == 409 and not_ready.value.code == "not_ready"
    with pytest.raises(WaitTimeoutError) as timed_out:
        client.wait(job.id, timeout_s=0.5, poll_s=0.1)
    assert isinstance(timed_out.value, TimeoutError)
    # the person withdraws their consent before the job runs: the worker cancels it
    idle_gateway.runtime.registry.revoke(consent_id, token=token, reason="changed my mind")
    assert idle_gateway.runtime.attach_worker().run(job.id) == "cancelled"
    with pytest.raises(GenerationFailedError) as failed:
        client.wait(job.id, timeout_s=5, poll_s=0.1)
    assert failed.value.code == "consent_withdrawn" and failed.value.generation.status == "cancelled"
    with pytest.raises(GoneError) as gone:
        client.download(job.id, dest=tmp_path / "never.mp4")
    assert gone.value.status == 410 and gone.value.code == "cancelled"
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_is_not_there_is_a_connection_error(key):
    with Client(base_url=f"http://127.0.0.1:{free_port()}", api_key=key, timeout=5) as client:
        with pytest.raises(APIConnectionError) as caught:
            client.me()
        started = time.monotonic()
        with pytest.raises(APIConnectionError):  # wait() outlasts a server away until its deadline
            client.wait("gen_" + "0" * 16, timeout_s=0.5, poll_s=0.1)
    assert time.monotonic() - started >= 0.5
    assert caught.value.status is None and not _leaks(caught.value, key) and caught.value.__cause__ is None
