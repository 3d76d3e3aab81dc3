"""An alias whose model is Anthropic's (`anthropic/claude-sonnet-4-5` at the fake
provider), as an operator serves Claude to Claude Code: litellm calls the upstream in
Anthropic's own API, and both our endpoints answer, record and bill what it reported,
cache reads and writes at the model's own rates in litellm's price table."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import anthropic
import litellm
import openai
import pytest
import requests

from credits.models import EntryType, LedgerEntry
from credits.services import credit_add, credits_reconcile
from jobs.fake_provider import messages_answer
from jobs.models import CallStatus, LLMCall
from jobs.tests import openai_sdk
from jobs.tests.anthropic_sdk import asgi_served, call_recorded, sdk
from teams.models import BudgetMode, ModelAlias
from teams.services import provider_credential_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MODEL = "claude-sonnet-4-5"
ANTHROPIC_KEY = "sk-ant-fake-upstream-k3y9"
CACHE_READ, CACHE_WRITE = 600, 200
CREDITS_PER_DOLLAR = 10_000
# ~1100 prompt tokens by the fake's count: room for the cache figures above.
SYSTEM = "You are a careful assistant who answers briefly. " * 90
QUESTION = [{"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def server(django_db_setup):
    with asgi_served() as url:
        yield url


@pytest.fixture
def claude(fake_provider, organization, team, access_group):
    """Makes an alias answered by the fake provider's Anthropic API as `model`."""
    provider_credential_create(
        actor="tests",
        organization=organization,
        provider="anthropic",
        credential_name="fake-anthropic",
        api_key=ANTHROPIC_KEY,
    )
    team.access_groups.add(access_group)

    def make(name: str = "claude", model: str = MODEL, **fields) -> ModelAlias:
        alias = ModelAlias.objects.create(
            model_alias=name,
            provider="anthropic",
            actual_model=f"anthropic/{model}",
            api_base=fake_provider.anthropic_api_base,
            **fields,
        )
        alias.access_groups.add(access_group)
        return alias

    return make


@pytest.fixture
def billed_team(team):
    """`team`, billed in USD with no markup (a wrong price is a wrong charge)."""
    team.budget_mode = BudgetMode.CONSUMPTION_USD
    team.credits_per_dollar = CREDITS_PER_DOLLAR
    team.save()
    credit_add(team=team, credits=10_000, actor="tests")
    return team


@pytest.fixture
def cached(fake_provider):
    """The upstream reports part of every prompt read from / written to its cache."""
    fake_provider.state.behaviour.cache_read_tokens = CACHE_READ
    fake_provider.state.behaviour.cache_write_tokens = CACHE_WRITE
    return fake_provider


def table_cost(prompt: int, completion: int, read: int, write: int) -> Decimal:
    """The USD price by litellm's table, read here rather than through our code."""
    rates = {
        name: Decimal(str(value))
        for name, value in litellm.model_cost[MODEL].items()
        if isinstance(value, float)
    }
    cost = (
        (prompt - read - write) * rates["input_cost_per_token"]
        + read * rates["cache_read_input_token_cost"]
        + write * rates["cache_creation_input_token_cost"]
        + completion * rates["output_cost_per_token"]
    )
    return cost.quantize(Decimal("0.00000001"), ROUND_HALF_UP)


def upstream_request(provider) -> dict:
    """The last request the upstream received: Anthropic's, at its own path."""
    request = provider.state.requests[-1]
    assert request["path"] == "/v1/messages"
    return request


def billed_at_cache_rates(provider) -> LLMCall:
    """The one call: the upstream's usage recorded, priced with its cache rates,
    charged once; the ledger reconciles."""
    call = call_recorded()
    body = upstream_request(provider)["body"]
    usage = messages_answer(body, provider.state.behaviour)["usage"]
    prompt = usage["input_tokens"] + CACHE_READ + CACHE_WRITE
    assert (call.status, call.model_used) == (
        CallStatus.SUCCEEDED,
        f"anthropic/{MODEL}",
    )
    assert not call.usage_estimated
    assert (call.prompt_tokens, call.completion_tokens) == (prompt, 3)
    assert (call.cached_tokens, call.cache_write_tokens) == (CACHE_READ, CACHE_WRITE)
    cost = table_cost(prompt, 3, CACHE_READ, CACHE_WRITE)
    assert call.provider_cost_usd == cost < table_cost(prompt, 3, 0, 0)
    (deduction,) = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    expected = math.ceil(cost * CREDITS_PER_DOLLAR)
    assert deduction.amount == -expected == -call.job.credits_charged
    assert credits_reconcile() == {}
    return call


def chat(**overrides) -> dict:
    messages = [{"role": "system", "content": SYSTEM}, *QUESTION]
    return {"model": "claude", "max_tokens": 1000, "messages": messages, **overrides}


def message(**overrides) -> dict:
    body = {"model": "claude", "max_tokens": 1000, "messages": QUESTION}
    return {**body, "system": SYSTEM, **overrides}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_openai_sdk_gets_claude_billed_at_its_cache_rates(
    server, team_key, billed_team, claude, cached, stream
):
    claude()
    client = openai_sdk.sdk(server, team_key)
    if stream:
        chunks = list(
            client.chat.completions.create(
                **chat(stream=True, stream_options={"include_usage": True})
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        models, usage = {c.model for c in chunks}, chunks[-1].usage
    else:
        answer = client.chat.completions.create(**chat())
        text, models = answer.choices[0].message.content, {answer.model}
        usage = answer.usage
    assert (text, models) == ("Echo: hello world", {"claude"})
    call = billed_at_cache_rates(cached)
    assert usage.prompt_tokens == call.prompt_tokens
    assert usage.prompt_tokens_details.cached_tokens == CACHE_READ


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_anthropic_sdk_gets_claude_billed_at_its_cache_rates(
    server, team_key, billed_team, claude, cached, stream
):
    claude()
    client = sdk(server, team_key)
    if stream:
        with client.messages.stream(**message()) as events:
            answer = events.get_final_message()
    else:
        answer = client.messages.create(**message())
    assert (answer.content[0].text, answer.model) == ("Echo: hello world", "claude")
    call = billed_at_cache_rates(cached)
    usage = answer.usage
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        CACHE_READ,
        CACHE_WRITE,
    )
    assert usage.input_tokens + CACHE_READ + CACHE_WRITE == call.prompt_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_tool_use_comes_back_as_an_openai_tool_call(
    server, team_key, claude, fake_provider, stream
):
    claude()
    schema = {"type": "object", "properties": {}}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": schema}}
    created = openai_sdk.sdk(server, team_key).chat.completions.create(
        **chat(tools=[tool], stream=stream)
    )
    if stream:
        calls = [c.choices[0].delta.tool_calls for c in created if c.choices]
        name = next(call[0].function.name for call in calls if call)
        arguments = "".join(c[0].function.arguments or "" for c in calls if c)
    else:
        call = created.choices[0].message.tool_calls[0]
        name, arguments = call.function.name, call.function.arguments
    assert (name, arguments) == ("lookup", '{"input": "hello world"}')
    assert upstream_request(fake_provider)["body"]["tools"][0]["name"] == "lookup"
    assert call_recorded().finish_reason == "tool_calls"


def test_the_system_prompt_max_tokens_and_key_reach_anthropics_api(
    server, team_key, claude, fake_provider
):
    claude()
    sdk(server, team_key).messages.create(**message(max_tokens=77))
    request = upstream_request(fake_provider)
    assert request["body"]["system"] == [{"type": "text", "text": SYSTEM}]
    assert request["body"]["max_tokens"] == 77
    assert request["body"]["model"] == MODEL
    assert request["headers"]["x-api-key"] == "…" + ANTHROPIC_KEY[-4:]
    assert request["headers"]["anthropic-version"]


def test_an_overloaded_upstream_is_a_502_and_nothing_is_billed(
    server, team_key, billed_team, claude
):
    claude(model="claude-fake-529")
    client = openai_sdk.sdk(server, team_key)
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(**chat())
    assert refused.value.status_code == 502
    assert call_recorded().status == CallStatus.FAILED
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()
    assert credits_reconcile() == {}


def test_an_overloaded_upstream_falls_back_to_the_next_alias(
    server, team_key, billed_team, claude, cached
):
    claude("claude-backup")
    claude(model="claude-fake-529", fallbacks=["claude-backup"])
    answer = sdk(server, team_key).messages.create(**message())
    assert (answer.content[0].text, answer.model) == ("Echo: hello world", "claude")
    models = [r["body"]["model"] for r in cached.state.requests[-2:]]
    assert models == ["claude-fake-529", MODEL]
    assert billed_at_cache_rates(cached).model_alias == "claude"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_without_usage_the_call_is_estimated_or_refused_and_billed_once(
    server, team_key, billed_team, claude, stream
):
    """litellm fails an Anthropic answer without usage (Anthropic always sends it):
    our 502, nothing billed. A stream without usage is billed on the estimate."""
    claude(model="claude-fake-no-usage")
    client = sdk(server, team_key)
    if not stream:
        with pytest.raises(anthropic.APIStatusError) as refused:
            client.messages.create(**message())
        assert refused.value.status_code == 502
        assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()
        assert credits_reconcile() == {}
        return
    with client.messages.stream(**message()) as events:
        assert events.get_final_text() == "Echo: hello world"
    call = call_recorded()
    assert call.usage_estimated
    assert call.prompt_tokens > 0
    assert call.completion_tokens > 0
    assert (call.cached_tokens, call.cache_write_tokens) == (0, 0)
    (deduction,) = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert deduction.amount == -call.job.credits_charged < 0
    assert credits_reconcile() == {}


@pytest.mark.parametrize("lines", [2, 12])
def test_a_stream_cut_by_the_client_is_billed_for_what_it_used(
    server, team_key, billed_team, claude, fake_provider, lines
):
    claude()
    fake_provider.state.behaviour.chunks = 30
    fake_provider.state.behaviour.chunk_delay = 0.05
    body = message(stream=True, messages=[{"role": "user", "content": "word " * 60}])
    with requests.post(
        f"{server}/v1/messages",
        json=body,
        headers={"x-api-key": team_key, "anthropic-version": "2023-06-01"},
        stream=True,
        timeout=10,
    ) as response:
        received = response.iter_lines()
        assert next(received) == b"event: message_start"
        for _ in range(lines - 1):
            next(received)
    call = call_recorded()
    assert call.finish_reason == "client_disconnected"
    # litellm holds an Anthropic stream's usage back until its end: estimated.
    assert call.usage_estimated
    assert call.completion_tokens > 0
    assert call.provider_cost_usd == table_cost(
        call.prompt_tokens, call.completion_tokens, 0, 0
    )
    (deduction,) = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert deduction.amount == -call.job.credits_charged < 0
    assert credits_reconcile() == {}
