"""The official Anthropic SDK against /v1/messages, not streamed: Anthropic's shapes
under the alias, the request translated for the provider, tools, one-call jobs."""

from __future__ import annotations

import base64

import pytest

from credits.models import EntryType, LedgerEntry
from credits.services import credits_reconcile
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.anthropic_sdk import hello, sdk
from jobs.tests.conftest import account

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def sent(fake_provider) -> dict:
    """The body the provider received last."""
    return fake_provider.state.requests[-1]["body"]


def test_a_message_answers_in_anthropics_shape_under_the_alias(client):
    message = client.messages.create(**hello())
    call = LLMCall.objects.get()
    assert message.id == f"msg_{call.call_id.hex}"
    assert (message.type, message.role, message.model) == (
        "message",
        "assistant",
        "chat",
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Echo: hello world"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == call.prompt_tokens > 0
    assert message.usage.output_tokens == call.completion_tokens > 0


def test_a_message_is_a_one_call_job_billed_once(client, team):
    raw = client.messages.with_raw_response.create(
        **hello(metadata={"user_id": "end-user-7"})
    )
    job = Job.objects.get()
    assert (job.status, job.user_id, job.job_type) == (
        JobStatus.COMPLETED,
        "end-user-7",
        "messages",
    )
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)
    assert raw.headers["X-Credits-Charged"] == "1"
    assert raw.headers["X-Credits-Remaining"] == str(account(team).credits_remaining)
    assert raw.headers["X-Job-Id"] == str(job.job_id)
    credits = raw.http_response.json()["usage"]["credits"]
    assert credits == {"charged": 1, "remaining": 99}
    assert credits_reconcile() == {}


@pytest.mark.parametrize(
    "system",
    ["You are terse.", [{"type": "text", "text": "You are terse."}]],
    ids=["string", "blocks"],
)
def test_the_system_prompt_reaches_the_provider_first(client, fake_provider, system):
    client.messages.create(**hello(system=system))
    first, second = sent(fake_provider)["messages"]
    assert first["role"] == "system"
    assert "You are terse." in str(first["content"])
    assert second == {"role": "user", "content": "hello world"}


def test_sampling_fields_and_stop_sequences_reach_the_provider(client, fake_provider):
    client.messages.create(
        **hello(max_tokens=50, stop_sequences=["END"]),
        extra_body={"temperature": 0.2, "top_p": 0.9},
    )
    body = sent(fake_provider)
    assert (body["max_tokens"], body["stop"], body["temperature"]) == (50, ["END"], 0.2)
    assert body["top_p"] == 0.9
    assert body["model"] == "fake-echo"


def test_fields_the_provider_would_refuse_are_dropped(client, fake_provider):
    message = client.messages.create(
        **hello(
            system=[
                {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}
            ],
            thinking={"type": "enabled", "budget_tokens": 1024},
            service_tier="auto",
        ),
        extra_body={"top_k": 5, "context_management": {"edits": []}},
        extra_headers={"anthropic-beta": "no-such-beta-2099-01-01,context-1m"},
    )
    assert message.content[0].text == "Echo: hello world"
    body = sent(fake_provider)
    assert "cache_control" not in str(body)
    for name in ("thinking", "service_tier", "top_k", "context_management"):
        assert name not in body
    assert "anthropic-beta" not in fake_provider.state.requests[-1]["headers"]


def test_an_image_reaches_the_provider_as_a_data_url(client, fake_provider):
    data = base64.b64encode(b"\x89PNG fake").decode()
    image = {"type": "base64", "media_type": "image/png", "data": data}
    content = [
        {"type": "text", "text": "what is it"},
        {"type": "image", "source": image},
    ]
    client.messages.create(**hello(messages=[{"role": "user", "content": content}]))
    (part_text, part_image) = sent(fake_provider)["messages"][0]["content"]
    assert part_text == {"type": "text", "text": "what is it"}
    assert part_image["image_url"]["url"] == f"data:image/png;base64,{data}"


def test_a_tool_use_round_trip(client, fake_provider):
    first = client.messages.create(**hello(tools=[WEATHER]))
    assert first.stop_reason == "tool_use"
    (tool_use,) = first.content
    assert (tool_use.type, tool_use.name) == ("tool_use", "get_weather")
    assert tool_use.input == {"input": "hello world"}
    assert (
        sent(fake_provider)["tools"][0]["function"]["parameters"]
        == (WEATHER["input_schema"])
    )
    result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}
    messages = [
        {"role": "user", "content": "hello world"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result, {"type": "text", "text": "and now?"}]},
    ]
    second = client.messages.create(**hello(messages=messages))
    assert second.content[0].text == "Echo: and now?"
    _, assistant, tool, user = sent(fake_provider)["messages"]
    assert assistant["tool_calls"][0]["id"] == tool_use.id
    assert tool == {"role": "tool", "tool_call_id": tool_use.id, "content": "sunny"}
    assert user["role"] == "user"
    assert LLMCall.objects.filter(status=CallStatus.SUCCEEDED).count() == 2


def test_a_tool_choice_and_no_parallel_calls_reach_the_provider(client, fake_provider):
    choice = {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    client.messages.create(**hello(tools=[WEATHER], tool_choice=choice))
    body = sent(fake_provider)
    assert body["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }
    assert body["parallel_tool_calls"] is False


def test_a_tool_name_longer_than_openai_takes_comes_back_as_sent(client, fake_provider):
    long_name = "mcp__a_rather_long_server_name__and_an_even_longer_tool_name_here"
    tool = {**WEATHER, "name": long_name}
    message = client.messages.create(**hello(tools=[tool]))
    assert len(sent(fake_provider)["tools"][0]["function"]["name"]) <= 64
    assert message.content[0].name == long_name


def test_a_structured_output_is_asked_for_as_a_json_schema(client, fake_provider):
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}}
    message = client.messages.create(
        **hello(output_config={"format": {"type": "json_schema", "schema": schema}})
    )
    assert message.content[0].text == '{"summary": "hello world"}'
    assert sent(fake_provider)["response_format"]["type"] == "json_schema"


def test_the_call_joins_the_open_job_of_x_job_id(client, job_id):
    raw = client.messages.with_raw_response.create(
        **hello(), extra_headers={"X-Job-Id": job_id}
    )
    assert raw.headers["X-Job-Id"] == job_id
    assert raw.headers["X-Credits-Charged"] == "0"
    assert Job.objects.get().status == JobStatus.IN_PROGRESS


def test_prompt_tokens_from_the_providers_cache_are_reported_apart(client, make_alias):
    make_alias("cached", "fake-usage-details")
    usage = client.messages.create(**hello(model="cached")).usage
    call = LLMCall.objects.get()
    assert usage.cache_read_input_tokens == call.cached_tokens > 0
    assert usage.input_tokens == call.prompt_tokens - call.cached_tokens
