"""The official Anthropic SDK streaming from /v1/messages: Anthropic's event sequence,
usage in message_start and in the final message_delta, the credits, tool use."""

from __future__ import annotations

import asyncio
import json

import anthropic
import pytest

from credits.models import CreditAccount, EntryType, LedgerEntry
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.anthropic_sdk import hello, sdk
from jobs.tests.conftest import ledger_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WEATHER = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def test_a_stream_follows_anthropics_event_sequence(client):
    events = list(client.messages.create(**hello(stream=True)))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(event.delta.text for event in events[2:-3])
    assert text == "Echo: hello world"
    call = LLMCall.objects.get()
    start = events[0].message
    assert (start.id, start.model) == (f"msg_{call.call_id.hex}", "chat")
    assert start.usage.input_tokens > 0
    delta = events[-2]
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == call.completion_tokens > 0
    assert delta.usage.input_tokens == call.prompt_tokens


def test_the_final_message_delta_carries_the_credits(client, team):
    with client.messages.with_streaming_response.create(
        **hello(stream=True)
    ) as response:
        frames = response.read().decode().split("\n\n")
        headers = response.headers
    delta = next(frame for frame in frames if frame.startswith("event: message_delta"))
    usage = json.loads(delta.split("data: ", 1)[1])["usage"]
    remaining = CreditAccount.objects.get(team=team).credits_remaining
    assert usage["credits"] == {"charged": 1, "remaining": remaining}
    job = Job.objects.get()
    assert headers["X-Job-Id"] == str(job.job_id)
    assert headers["Content-Type"].startswith("text/event-stream")
    assert "data: [DONE]" not in frames
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)


def test_the_sdks_stream_helper_accumulates_the_message(client):
    with client.messages.stream(**hello()) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Echo: hello world"
    assert message.content[0].text == text
    assert message.usage.output_tokens == LLMCall.objects.get().completion_tokens


def test_a_streamed_tool_use_comes_as_input_json_deltas(client):
    events = list(client.messages.create(**hello(stream=True, tools=[WEATHER])))
    start = next(event for event in events if event.type == "content_block_start")
    assert (start.content_block.type, start.content_block.name) == (
        "tool_use",
        "get_weather",
    )
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert {delta.type for delta in deltas} == {"input_json_delta"}
    arguments = "".join(delta.partial_json for delta in deltas)
    assert json.loads(arguments) == {"input": "hello world"}
    assert events[-2].delta.stop_reason == "tool_use"


def test_a_streamed_tool_use_accumulates_into_its_input(client):
    with client.messages.stream(**hello(tools=[WEATHER])) as stream:
        message = stream.get_final_message()
    assert message.content[0].input == {"input": "hello world"}


def test_a_stream_that_breaks_ends_with_an_error_event_and_costs_nothing(
    client, make_alias, team
):
    make_alias("breaking", "fake-break-stream")
    before = ledger_snapshot(team)
    stream = client.messages.create(**hello(model="breaking", stream=True))
    with pytest.raises(anthropic.APIStatusError) as raised:
        list(stream)
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"] == {
        "type": "api_error",
        "message": "LLM call failed",
    }
    assert LLMCall.objects.get().status == CallStatus.FAILED
    assert Job.objects.get().status == JobStatus.FAILED
    assert ledger_snapshot(team) == before


def test_the_error_event_is_named_error(client, make_alias):
    make_alias("breaking", "fake-break-stream")
    with client.messages.with_streaming_response.create(
        **hello(model="breaking", stream=True)
    ) as response:
        frames = response.read().decode().strip().split("\n\n")
    assert frames[0].startswith("event: message_start\n")
    assert frames[-1].startswith("event: error\ndata: {")


def test_the_async_client_streams(server, team_key, chat_alias):
    async def collect() -> str:
        client = anthropic.AsyncAnthropic(
            base_url=server, api_key=team_key, max_retries=0
        )
        async with client, client.messages.stream(**hello()) as stream:
            return "".join([text async for text in stream.text_stream])

    assert asyncio.run(collect()) == "Echo: hello world"
