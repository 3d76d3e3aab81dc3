"""The retry policy: transient failures only, and never a request that may have run.

These tests exercise the client against httpx.MockTransport, since what is under test
is the client's own policy, not the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from saas_litellm_client import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    RateLimitError,
    RetryPolicy,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    ServerError,
)

pytestmark = pytest.mark.anyio

JOB_ID = str(uuid.uuid4())
KEY = "sk-" + "0" * 32
BALANCE = {
    "team_id": "acme-corp",
    "credits_allocated": 10,
    "credits_used": 0,
    "credits_reserved": 0,
    "credits_remaining": 10,
    "budget_mode": "job_based",
}
JOB = {"job_id": JOB_ID, "status": "pending", "created_at": "2026-01-01T00:00:00Z"}
COMPLETION = {"job_id": JOB_ID, "status": "completed", "costs": {}, "calls": []}

Outcome = httpx.Response | Exception


class Script:
    """A transport answering each request with the next scripted outcome."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def error(status: int, code: str | None = None, **headers: str) -> httpx.Response:
    body = {"detail": "error", **({"code": code} if code else {})}
    return httpx.Response(status, json=body, headers=headers)


def async_client(script: Script, **options: object) -> SaasLiteLLMClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return SaasLiteLLMClient(
        "http://server",
        "acme-corp",
        KEY,
        http_client=http,
        retry_backoff=0.001,
        **options,
    )


def sync_client(script: Script, **options: object) -> SaasLiteLLMSyncClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return SaasLiteLLMSyncClient(
        "http://server",
        "acme-corp",
        KEY,
        http_client=http,
        retry_backoff=0.001,
        **options,
    )


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


def read_timeout() -> httpx.ReadTimeout:
    return httpx.ReadTimeout("read timed out")


@pytest.mark.parametrize(
    "failure",
    [
        lambda: error(502, "provider_error"),
        lambda: error(503),
        lambda: error(504, "provider_timeout"),
        lambda: error(429, "rate_limited", **{"Retry-After": "0"}),
        connect_error,
        read_timeout,
    ],
)
async def test_a_read_is_retried_after_a_transient_failure(failure: Callable):
    script = Script(failure(), httpx.Response(200, json=BALANCE))
    balance = await async_client(script).get_balance()
    assert balance.credits_remaining == 10
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (lambda: error(502, "provider_error"), ProviderError),
        (lambda: error(504, "provider_timeout"), ProviderError),
        (read_timeout, APITimeoutError),
        (lambda: httpx.RemoteProtocolError("server disconnected"), APIConnectionError),
    ],
)
async def test_an_llm_call_that_may_have_run_is_never_retried(failure, raised):
    script = Script(failure(), httpx.Response(200, json={}))
    client = async_client(script)
    with pytest.raises(raised):
        await client.chat(JOB_ID, "chat", [{"role": "user", "content": "hi"}])
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        connect_error,
        lambda: httpx.ConnectTimeout("connect timed out"),
        lambda: error(503),
        lambda: error(429, "rate_limited", **{"Retry-After": "0"}),
    ],
)
async def test_a_job_creation_refused_before_any_work_is_retried(failure):
    script = Script(failure(), httpx.Response(201, json=JOB))
    job = await async_client(script).create_job("document_analysis")
    assert job.job_id == JOB_ID
    assert len(script.requests) == 2


async def test_completing_a_job_is_retried_because_it_is_idempotent():
    script = Script(read_timeout(), error(502), httpx.Response(200, json=COMPLETION))
    completion = await async_client(script).complete_job(JOB_ID)
    assert completion.status == "completed"
    assert len(script.requests) == 3


async def test_a_server_bug_is_not_retried():
    script = Script(error(500), httpx.Response(200, json=BALANCE))
    with pytest.raises(ServerError) as caught:
        await async_client(script).get_balance()
    assert caught.value.status_code == 500
    assert len(script.requests) == 1


async def test_retries_stop_after_max_retries():
    script = Script(*[error(503) for _ in range(4)])
    with pytest.raises(ServerError):
        await async_client(script, max_retries=2).get_balance()
    assert len(script.requests) == 3


async def test_max_retries_zero_disables_retrying():
    script = Script(connect_error(), httpx.Response(200, json=BALANCE))
    with pytest.raises(APIConnectionError):
        await async_client(script, max_retries=0).get_balance()
    assert len(script.requests) == 1


async def test_a_retry_after_longer_than_the_cap_is_raised_at_once():
    script = Script(error(429, "rate_limited", **{"Retry-After": "120"}))
    with pytest.raises(RateLimitError) as caught:
        await async_client(script, max_retry_after=5).get_balance()
    assert caught.value.retry_after == 120
    assert len(script.requests) == 1


def test_a_retry_after_date_is_converted_to_seconds():
    moment = datetime(2000, 1, 1, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    script = Script(error(429, "rate_limited", **{"Retry-After": moment}))
    with pytest.raises(RateLimitError) as caught:
        sync_client(script, max_retries=0).get_balance()
    assert caught.value.retry_after == 0


def test_the_sync_client_follows_the_same_policy():
    script = Script(connect_error(), error(503), httpx.Response(200, json=BALANCE))
    assert sync_client(script).get_balance().team_id == "acme-corp"
    llm = Script(error(502, "provider_error"))
    with pytest.raises(ProviderError):
        sync_client(llm).chat(JOB_ID, "chat", [{"role": "user", "content": "hi"}])
    assert len(llm.requests) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(backoff=1.0, backoff_max=4.0)
    for attempt, full in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)]:
        delays = {policy.backoff_delay(attempt) for _ in range(50)}
        assert all(full / 2 <= delay <= full for delay in delays)
        assert len(delays) > 1


def test_a_timeout_can_be_configured():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=BALANCE)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = SaasLiteLLMSyncClient(
        "http://server",
        "acme-corp",
        KEY,
        timeout=httpx.Timeout(3, connect=1),
        http_client=http,
    )
    client.get_balance()
    assert seen == [{"connect": 1, "read": 3, "write": 3, "pool": 3}]
