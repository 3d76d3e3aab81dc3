"""Routing across an alias's deployments (jobs/routing.py, jobs/deployment_health.py,
jobs/gateway.py `_attempted`): three fake providers behind one alias, each on its
own port, answering through the real request path (`/v1/chat/completions`, one job
per call, billed once each)."""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from credits.models import EntryType, LedgerEntry
from credits.services import credit_add, credits_reconcile
from jobs import deployment_health
from jobs.fake_provider import FakeBehaviour, FakeProvider, fake_provider_start
from jobs.models import Job, JobStatus, LLMCall
from jobs.tests.conftest import call_body
from jobs.tests.live import free_port
from teams.models import ModelAlias
from teams.services import model_alias_create


@pytest.fixture(scope="module")
def providers() -> list[FakeProvider]:
    started = [fake_provider_start(port=free_port()) for _ in range(3)]
    yield started
    for provider in started:
        provider.stop()


@pytest.fixture(autouse=True)
def fresh(providers, fake_provider, settings) -> None:
    """Quiet providers, forgotten health, no retry waits unless a test asks."""
    for provider in providers:
        provider.state.behaviour = FakeBehaviour()
        with provider.state.lock:
            provider.state.requests.clear()
    cache.clear()
    settings.LLM_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def routed(providers, provider_credential, access_group, team):
    """An alias over the providers given (index, weight), usable by `team`."""
    team.access_groups.add(access_group)
    credit_add(team=team, credits=100_000, actor="tests")

    def make(name: str, deployments: list[dict[str, Any]], **fields: Any) -> ModelAlias:
        for deployment in deployments:
            deployment.setdefault("actual_model", "openai/fake-echo")
            index = deployment.pop("provider", None)
            if index is not None:
                deployment.setdefault("api_base", providers[index].api_base)
        alias = model_alias_create(
            actor="tests",
            model_alias=name,
            provider="openai",
            deployments=deployments,
            **fields,
        )
        alias.access_groups.add(access_group)
        return alias

    return make


def chat(client, model: str = "pool", **overrides: Any) -> Any:
    response = client.post(
        "/v1/chat/completions", call_body(model=model, **overrides), format="json"
    )
    deployment_health.written()
    return response


def hits(providers: list[FakeProvider]) -> list[int]:
    return [provider.request_count for provider in providers]


def test_weights_three_to_one_split_the_traffic_three_to_one_billed_once_each(
    routed, providers, team_client, team
):
    routed("pool", [{"provider": 0, "weight": 3}, {"provider": 1, "weight": 1}])
    answers = [chat(team_client).status_code for _ in range(400)]
    assert collections.Counter(answers) == {HTTPStatus.OK: 400}
    first, second, third = hits(providers)
    # 300 expected of 400 (standard deviation 8.7): within 4.6 deviations.
    assert 260 <= first <= 340, (first, second)
    assert first + second == 400
    assert third == 0
    served = collections.Counter(LLMCall.objects.values_list("deployment", flat=True))
    assert served == {"pool#0": first, "pool#1": second}
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 400
    charges = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert charges.count() == 400
    assert charges.values("job_id").distinct().count() == 400
    assert credits_reconcile() == {}


def test_a_429_with_retry_after_leaves_the_deployment_out_for_that_long(
    routed, providers, team_client
):
    routed("pool", [{"provider": 0}, {"provider": 1}])
    providers[0].state.behaviour.fail_next = 1
    providers[0].state.behaviour.retry_after = 2
    while providers[0].request_count == 0:  # until a request meets the 429
        sent_at = time.monotonic()  # the 429 came between these two moments
        assert chat(team_client).status_code == HTTPStatus.OK
    answered_at = time.monotonic()
    call = LLMCall.objects.latest("id")
    assert [a["deployment"] for a in call.attempts] == ["pool#0", "pool#1"]
    assert "RateLimitError status=429" in call.attempts[0]["outcome"]
    assert call.deployment == "pool#1"
    while time.monotonic() - sent_at < 1.5:
        assert chat(team_client).status_code == HTTPStatus.OK
    assert providers[0].request_count == 1  # left out for the 2 s
    time.sleep(max(0.0, 2.1 - (time.monotonic() - answered_at)))
    for _ in range(20):
        assert chat(team_client).status_code == HTTPStatus.OK
    assert providers[0].request_count > 1  # and used again


def test_a_provider_down_is_cooled_down_after_n_failures(
    routed, providers, team_client, settings
):
    settings.ROUTER_ALLOWED_FAILS = 3
    settings.ROUTER_COOLDOWN_SECONDS = 60
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    routed("pool", [{"api_base": down}, {"provider": 1}, {"provider": 2}])
    for _ in range(60):
        assert chat(team_client).status_code == HTTPStatus.OK
    tried = [
        attempt["deployment"]
        for attempts in LLMCall.objects.order_by("id").values_list(
            "attempts", flat=True
        )
        for attempt in attempts
    ]
    assert tried.count("pool#0") == 3  # then never again
    assert sum(hits(providers)[1:]) == 60


def test_every_deployment_cooling_down_is_a_503_with_retry_after_and_no_charge(
    routed, team_client, team, settings
):
    settings.ROUTER_ALLOWED_FAILS = 1
    settings.ROUTER_RETRIES = 0
    down = f"http://127.0.0.1:{free_port()}/v1"
    routed("pool", [{"api_base": down}, {"api_base": down}])
    assert chat(team_client).status_code == HTTPStatus.BAD_GATEWAY
    calls, charges = LLMCall.objects.count(), LedgerEntry.objects.count()
    response = chat(team_client)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "model_unavailable"
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert (LLMCall.objects.count(), LedgerEntry.objects.count()) == (calls, charges)


def test_a_single_deployment_is_retried_after_its_retry_after(
    routed, providers, team_client
):
    routed("solo", [{"provider": 0}])
    providers[0].state.behaviour.fail_next = 1
    providers[0].state.behaviour.retry_after = 1
    started = time.monotonic()
    assert chat(team_client, model="solo").status_code == HTTPStatus.OK
    assert time.monotonic() - started >= 1.0
    assert providers[0].request_count == 2


def test_a_deployment_at_its_rpm_is_left_out_for_the_minute(
    routed, providers, team_client
):
    routed("pool", [{"provider": 0, "rpm": 2, "weight": 1000}, {"provider": 1}])
    for _ in range(12):
        assert chat(team_client).status_code == HTTPStatus.OK
    assert hits(providers)[:2] == [2, 10]


@pytest.mark.postgres  # requests at once: SQLite would lock
@pytest.mark.django_db(transaction=True)
def test_least_busy_sends_a_slow_provider_fewer_requests(
    routed, providers, team_key, asgi_server
):
    routed(
        "pool",
        [{"provider": 0}, {"provider": 1}, {"provider": 2}],
        routing_strategy="least_busy",
    )
    providers[0].state.behaviour.latency = 0.6

    def post(_: int) -> int:
        return requests.post(
            f"{asgi_server}/v1/chat/completions",
            json=call_body(model="pool"),
            headers={"Authorization": f"Bearer {team_key}"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(60)))
    assert collections.Counter(answers) == {HTTPStatus.OK: 60}
    slow, *fast = hits(providers)
    assert slow < min(fast), hits(providers)
    assert slow <= 12, hits(providers)


def test_lowest_latency_prefers_the_fast_provider_once_it_knows(
    routed, providers, team_client
):
    routed(
        "pool",
        [{"provider": 0}, {"provider": 1}],
        routing_strategy="lowest_latency",
    )
    providers[0].state.behaviour.latency = 0.2
    for _ in range(20):
        assert chat(team_client).status_code == HTTPStatus.OK
    slow, fast = hits(providers)[:2]
    assert slow <= 2
    assert fast >= 18


LONG_PROMPT = "word " * 9000  # about 9 000 tokens: more than gpt-4's 8 192


def test_a_prompt_too_long_goes_to_the_context_window_fallback(
    routed, providers, team_client
):
    routed("big", [{"provider": 1}])
    routed(
        "small",
        [{"provider": 0, "actual_model": "openai/gpt-4"}],
        context_window_fallback="big",
    )
    messages = [{"role": "user", "content": LONG_PROMPT}]
    response = chat(team_client, model="small", messages=messages)
    assert response.status_code == HTTPStatus.OK
    assert hits(providers)[:2] == [0, 1]
    assert LLMCall.objects.get().deployment == "big#0"
    short = chat(team_client, model="small")
    assert short.status_code == HTTPStatus.OK
    assert hits(providers)[:2] == [1, 1]


def test_a_prompt_too_long_without_fallback_is_a_400_naming_the_limit(
    routed, providers, team_client
):
    routed("small", [{"provider": 0, "actual_model": "openai/gpt-4"}])
    messages = [{"role": "user", "content": LONG_PROMPT}]
    response = chat(team_client, model="small", messages=messages)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "context_window_exceeded"
    assert "8192" in error["message"]
    assert "gpt-4" not in error["message"]  # the real model stays the operator's
    assert providers[0].request_count == 0
    assert not LLMCall.objects.exists()


def test_the_reservation_covers_the_dearest_deployment(routed, team_client):
    routed(
        "pool",
        [
            {"provider": 0, "pricing_input": "1", "pricing_output": "1"},
            {"provider": 1, "pricing_input": "100", "pricing_output": "400"},
        ],
    )
    for _ in range(4):
        assert chat(team_client, max_tokens=1000).status_code == HTTPStatus.OK
    # Whichever answers, 1 000 output tokens were reserved at the dearer price.
    reserved = set(LLMCall.objects.values_list("reserved_cost_usd", flat=True))
    assert len(reserved) == 1
    assert reserved.pop() >= Decimal("0.4")


def test_a_team_never_sees_the_deployment(routed, team_client):
    routed("pool", [{"provider": 0}, {"provider": 1}])
    response = chat(team_client)
    assert response.status_code == HTTPStatus.OK
    text = response.content.decode()
    assert "pool#" not in text
    assert "fake-echo" not in text
    assert "deployment" not in text
    assert "attempts" not in text


def test_a_deployment_at_its_tpm_is_left_out_for_the_minute(
    routed, providers, team_client
):
    routed("pool", [{"provider": 0, "tpm": 30, "weight": 1000}, {"provider": 1}])
    for _ in range(6):
        assert chat(team_client).status_code == HTTPStatus.OK
    used = LLMCall.objects.filter(deployment="pool#0").values_list(
        "total_tokens", flat=True
    )
    # Sent to while under 30 tokens this minute, then left out.
    assert sum(used[: len(used) - 1]) < 30 <= sum(used)
    assert hits(providers)[1] == 6 - len(used)


def test_the_call_page_shows_every_attempt(routed, providers, team_client):
    routed("pool", [{"provider": 0, "weight": 1000}, {"provider": 1}])
    providers[0].state.behaviour.fail_next = 1
    assert chat(team_client).status_code == HTTPStatus.OK
    call = LLMCall.objects.get()
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("admin:jobs_llmcall_change", args=[call.pk]))
    assert page.status_code == HTTPStatus.OK
    text = page.content.decode()
    assert "pool#0" in text
    assert "RateLimitError status=429" in text
    assert text.count("pool#1") >= 2  # the deployment field and its attempt
