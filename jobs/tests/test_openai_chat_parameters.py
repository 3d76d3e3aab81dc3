"""/v1/chat/completions passes OpenAI's parameters through, makes and bills `n`
answers, records usage details and prices them, and says what each answer cost."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.test import Client

from credits.models import LedgerEntry
from credits.services import USD_QUANTUM
from jobs import gateway, pricing
from jobs.gateway import Completion
from jobs.models import Job, LLMCall
from jobs.routing import Route
from jobs.tests.conftest import account, ledger_snapshot
from teams.models import BudgetMode, ModelAlias

MESSAGES = [{"role": "user", "content": "hello there world"}]
PASSED = {
    "seed": 7,
    "logprobs": True,
    "top_logprobs": 2,
    "presence_penalty": 0.5,
    "frequency_penalty": -0.5,
    "logit_bias": {"50256": -100},
    "parallel_tool_calls": False,
    "reasoning_effort": "low",
    "service_tier": "auto",
    "prediction": {"type": "content", "content": "Echo"},
}


@pytest.fixture
def post(team_key, chat_alias):
    def send(body, **headers):
        return Client().post(
            "/v1/chat/completions",
            {"messages": MESSAGES, **body},
            content_type="application/json",
            headers={"Authorization": f"Bearer {team_key}", **headers},
        )

    return send


def test_openai_parameters_reach_the_provider_as_given(post, fake_provider):
    response = post({"model": "chat", **PASSED, "user": "end-user-1"})
    assert response.status_code == HTTPStatus.OK
    sent = fake_provider.state.requests[-1]["body"]
    assert {name: sent.get(name) for name in PASSED} == PASSED
    assert sent["user"] == "end-user-1"
    assert Job.objects.get().user_id == "end-user-1"
    logprobs = response.json()["choices"][0]["logprobs"]["content"]
    assert [item["token"] for item in logprobs] == ["Echo:", "hello", "there", "world"]


def test_a_parameter_the_provider_cannot_take_is_a_400_naming_it(
    post, make_alias, team
):
    make_alias("claude", mock_response="hi")
    ModelAlias.objects.filter(model_alias="claude").update(
        actual_model="anthropic/claude-sonnet-4-5", provider="anthropic"
    )
    before = ledger_snapshot(team)
    response = post({"model": "claude", "seed": 7})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("seed", "unsupported_parameter")
    assert "claude" in error["message"]
    assert "anthropic" not in error["message"]
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before
    assert post({"model": "claude", "temperature": 0.5}).status_code == HTTPStatus.OK


def test_metadata_is_kept_as_the_calls_metadata_not_sent(post, fake_provider):
    response = post({"model": "chat", "metadata": {"ticket": "T-42"}})
    assert response.status_code == HTTPStatus.OK
    assert LLMCall.objects.get().call_metadata == {"ticket": "T-42"}
    assert "metadata" not in fake_provider.state.requests[-1]["body"]


def test_n_answers_are_returned_and_billed_for_all(post, team, fake_provider):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 10
    team.save()
    response = post({"model": "chat", "n": 3, "max_tokens": 20})
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in body["choices"]} == {
        "Echo: hello there world"
    }
    assert fake_provider.state.requests[-1]["body"]["n"] == 3
    call = LLMCall.objects.get()
    # The reservation covered three answers of up to 20 tokens each.
    assert call.reserved_tokens >= 3 * 20
    assert call.completion_tokens == 3 * 4
    assert body["usage"]["completion_tokens"] == call.completion_tokens
    charged = -LedgerEntry.objects.get(entry_type="deduction").amount
    assert charged == -(-call.total_tokens // 10)
    assert body["usage"]["credits"]["charged"] == charged


def test_usage_details_are_recorded_and_returned(post, make_alias, fake_provider):
    make_alias("cached", behaviour="fake-usage-details")
    body = post({"model": "cached"}).json()
    call = LLMCall.objects.get()
    assert call.prompt_tokens >= 2
    assert call.cached_tokens == call.prompt_tokens // 2
    assert (call.reasoning_tokens, call.cache_write_tokens) == (1, 0)
    assert not call.usage_estimated
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == call.cached_tokens
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 1


def test_a_streams_usage_details_are_recorded(post, make_alias, fake_provider):
    make_alias("cached", behaviour="fake-usage-details")
    response = post({"model": "cached", "stream": True})
    b"".join(response.streaming_content)
    call = LLMCall.objects.get()
    assert (call.cached_tokens, call.reasoning_tokens) == (call.prompt_tokens // 2, 1)


def _cost(model: str, **tokens: int) -> Decimal:
    route = Route(alias="a", model=model)
    cost = pricing.completion_cost_usd(
        Completion(route=route, prompt_tokens=1000, completion_tokens=100, **tokens)
    )
    return cost.quantize(USD_QUANTUM)  # as recorded: litellm's floats are noisy


def test_cache_reads_and_writes_are_priced_at_the_models_own_rates():
    # litellm's bundled table: gpt-4o $2.50 input, $1.25 cached, $10 output per 1M.
    assert _cost("openai/gpt-4o") == Decimal("0.0035")
    assert _cost("openai/gpt-4o", cached_tokens=800) == Decimal("0.0025")
    # Claude Sonnet 4.5: $3 input, $0.30 cache read, $3.75 cache write, $15 output.
    assert _cost("anthropic/claude-sonnet-4-5") == Decimal("0.0045")
    assert _cost("anthropic/claude-sonnet-4-5", cached_tokens=800) == Decimal("0.00234")
    assert _cost("anthropic/claude-sonnet-4-5", cache_write_tokens=500) == Decimal(
        "0.004875"
    )


def test_provider_usage_details_are_read_on_both_shapes():
    openai_shape = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 15},
    }
    assert gateway._usage_counts(openai_shape) == gateway.UsageCounts(
        100, 20, cached=60, reasoning=15
    )
    anthropic_shape = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 50,
    }
    assert gateway._usage_counts(anthropic_shape) == gateway.UsageCounts(
        100, 20, cached=30, cache_write=50
    )
    # Details never exceed what they are part of; odd ones are dropped.
    odd = {
        "prompt_tokens": 10,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 99},
        "completion_tokens_details": {"reasoning_tokens": "many"},
    }
    assert gateway._usage_counts(odd) == gateway.UsageCounts(10, 2, cached=10)


def test_every_answer_says_what_it_cost_and_what_is_left(post, team):
    body = post({"model": "chat"}).json()
    assert body["usage"]["credits"] == {
        "charged": 1,
        "remaining": account(team).credits_remaining,
    }


def test_an_answer_on_an_open_job_costs_nothing_yet(post, job_id):
    response = post({"model": "chat"}, **{"X-Job-Id": job_id})
    assert response.json()["usage"]["credits"]["charged"] == 0
    assert Decimal(response["X-Credits-Charged"]) == 0
