"""Real calls through the fake provider move the LLM metrics: calls by outcome,
provider latency, tokens and credits by team, refusals, time to first token, open
streams and the catalogue cache."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from prometheus_client import REGISTRY

from credits.services import credit_add
from jobs.models import LLMCall
from jobs.ratelimit import rate_limit_acquire
from jobs.tests.conftest import call_body, sse_events
from teams.services import team_create

CHAT = "v1/chat/completions"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"saas_litellm_{name}", labels) or 0.0


def chat(client, **overrides):
    return client.post("/v1/chat/completions", call_body(**overrides), format="json")


def test_a_chat_completion_moves_the_call_token_and_credit_counters(
    team_client, chat_alias, django_capture_on_commit_callbacks
):
    calls = {"alias": "chat", "endpoint": CHAT, "outcome": "succeeded"}
    before = (
        sample("llm_calls_total", **calls),
        sample("tokens_total", team="acme-corp", kind="prompt"),
        sample("tokens_total", team="acme-corp", kind="completion"),
        sample("credits_charged_total", team="acme-corp"),
        sample("provider_latency_seconds_count", alias="chat"),
    )
    with django_capture_on_commit_callbacks(execute=True):  # the charge commits
        assert chat(team_client).status_code == HTTPStatus.OK
    call = LLMCall.objects.get()
    assert call.prompt_tokens > 0
    assert (
        sample("llm_calls_total", **calls),
        sample("tokens_total", team="acme-corp", kind="prompt"),
        sample("tokens_total", team="acme-corp", kind="completion"),
        sample("credits_charged_total", team="acme-corp"),
        sample("provider_latency_seconds_count", alias="chat"),
    ) == (
        before[0] + 1,
        before[1] + call.prompt_tokens,
        before[2] + call.completion_tokens,
        before[3] + 1,
        before[4] + 1,
    )


def test_a_provider_failure_is_counted_with_its_code(
    team_client, make_alias, team, access_group
):
    team.access_groups.add(access_group)
    make_alias("down", "fake-fail-500")
    labels = {"alias": "down", "endpoint": CHAT, "outcome": "provider_error"}
    before = sample("llm_calls_total", **labels)
    assert chat(team_client, model="down").status_code == HTTPStatus.BAD_GATEWAY
    assert sample("llm_calls_total", **labels) == before + 1


def test_a_rate_limited_call_is_a_refusal(team_client, team, chat_alias):
    team.max_parallel_requests = 1
    team.save()
    rate_limit_acquire(team=team)  # a call already in flight
    before = sample("refusals_total", reason="rate_limited")
    assert chat(team_client).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert sample("refusals_total", reason="rate_limited") == before + 1


def test_a_model_outside_the_teams_groups_is_a_refusal(team_client, chat_alias):
    before = sample("refusals_total", reason="model_access_denied")
    assert chat(team_client, model="nope").status_code == HTTPStatus.FORBIDDEN
    assert sample("refusals_total", reason="model_access_denied") == before + 1


def test_a_stream_observes_its_first_token_and_closes_its_gauge(
    stream_post, chat_alias
):
    first_tokens = sample("time_to_first_token_seconds_count", alias="chat")
    open_before = sample("streams_open")
    response = stream_post("/v1/chat/completions", call_body(stream=True))
    assert sse_events(response.raw)[-1] == "[DONE]"
    assert sample("time_to_first_token_seconds_count", alias="chat") == first_tokens + 1
    assert sample("streams_open") == open_before


def test_a_streams_time_to_first_token_is_its_calls_and_the_metrics(
    stream_post, team_client, chat_alias, fake_provider
):
    """The provider waits 0.3 s before its first chunk, then 0.1 s between its 4
    chunks: the call's TTFT is the wait, its latency the whole stream; a call not
    streamed has none."""
    fake_provider.state.behaviour.latency = 0.3
    fake_provider.state.behaviour.chunks = 4
    fake_provider.state.behaviour.chunk_delay = 0.1
    observed = sample("time_to_first_token_seconds_sum", alias="chat")
    response = stream_post("/v1/chat/completions", call_body(stream=True))
    assert sse_events(response.raw)[-1] == "[DONE]"
    call = LLMCall.objects.get()
    assert 300 <= call.ttft_ms < 1000
    assert call.latency_ms >= call.ttft_ms + 250
    seconds = sample("time_to_first_token_seconds_sum", alias="chat") - observed
    assert int(seconds * 1000) == call.ttft_ms
    assert chat(team_client).status_code == HTTPStatus.OK
    assert LLMCall.objects.latest("id").ttft_ms is None


def test_a_stream_is_counted_once(stream_post, chat_alias):
    labels = {"route": CHAT, "method": "POST", "status": "200"}
    before = sample("http_requests_total", **labels)
    stream_post("/v1/chat/completions", call_body(stream=True))
    assert sample("http_requests_total", **labels) == before + 1


@pytest.mark.postgres
def test_the_second_call_is_a_catalogue_cache_hit(team_client, chat_alias):
    hits = sample("catalogue_cache_total", result="hit")
    chat(team_client)
    chat(team_client)
    assert sample("catalogue_cache_total", result="hit") >= hits + 1


def test_a_team_beyond_the_cap_counts_as_other(
    organization,
    chat_alias,
    access_group,
    client,
    settings,
    django_capture_on_commit_callbacks,
):
    issued = team_create(
        organization=organization, team_id="capped-team", actor="tests"
    )
    credit_add(team=issued.key.team, credits=10, actor="tests")
    issued.key.team.access_groups.add(access_group)
    settings.METRICS_MAX_TEAMS = 0
    before = sample("credits_charged_total", team="other")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/v1/chat/completions",
            call_body(),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}",
        )
    assert response.status_code == HTTPStatus.OK
    assert sample("credits_charged_total", team="other") == before + 1
    assert sample("credits_charged_total", team="capped-team") == 0
