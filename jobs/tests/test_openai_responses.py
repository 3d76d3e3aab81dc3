"""The official OpenAI SDK against /v1/responses: OpenAI's shapes and event sequence
under the alias, billed as a one-call job (one call record, at most one charge of
its size, a clean reconciliation), stored for GET and previous_response_id."""

from __future__ import annotations

import json
import math
import time

import openai
import pytest
import requests

from credits.models import CreditHold, EntryType, LedgerEntry
from credits.services import credits_reconcile
from jobs.models import CallStatus, Job, JobStatus, LLMCall, StoredResponse
from jobs.ratelimit import rate_limit_acquire
from jobs.tests.conftest import account
from jobs.tests.openai_sdk import sdk
from teams.models import BudgetMode

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


@pytest.fixture
def by_tokens(team):
    """Credits by tokens (3 a credit), so that a charge's size says what was billed."""
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 3
    team.save()
    return team


def rows() -> tuple[int, ...]:
    return (
        Job.objects.count(),
        LLMCall.objects.count(),
        CreditHold.objects.count(),
        LedgerEntry.objects.count(),
        StoredResponse.objects.count(),
    )


def deductions() -> list[int]:
    entries = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    return [-entry.amount for entry in entries]


def provider_bodies(fake_provider, since: int) -> list[dict]:
    return [request["body"] for request in fake_provider.state.requests[since:]]


def test_a_response_answers_in_openais_shape_under_the_alias(client, team):
    raw = client.responses.with_raw_response.create(model="chat", input="hello world")
    response = raw.parse()
    assert response.id.startswith("resp_")
    assert (response.object, response.status, response.model) == (
        "response",
        "completed",
        "chat",
    )
    assert response.output_text == "Echo: hello world"
    (message,) = response.output
    assert (message.type, message.role, message.content[0].type) == (
        "message",
        "assistant",
        "output_text",
    )
    call = LLMCall.objects.get()
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (
        call.prompt_tokens,
        call.completion_tokens,
        call.total_tokens,
    )
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert raw.headers["X-Credits-Charged"] == "1"
    assert raw.headers["X-Credits-Remaining"] == str(account(team).credits_remaining)
    assert json.loads(raw.http_response.text)["usage"]["credits"] == {
        "charged": 1,
        "remaining": account(team).credits_remaining,
    }
    assert Job.objects.get().status == JobStatus.COMPLETED


def test_a_streamed_response_follows_openais_event_sequence(client):
    events = list(
        client.responses.create(model="chat", input="hello world", stream=True)
    )
    kinds = [event.type for event in events]
    assert kinds[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Echo: hello world"
    completed = events[-1].response
    assert (completed.output_text, completed.model) == (text, "chat")
    assert completed.id == events[0].response.id
    assert completed.output[0].id == events[2].item.id
    assert completed.usage.total_tokens == LLMCall.objects.get().total_tokens
    assert StoredResponse.objects.get().response_id == completed.id


def test_a_streams_completed_event_carries_the_credits(
    server, team_key, chat_alias, team
):
    body = {"model": "chat", "input": "hi", "stream": True}
    answer = requests.post(
        f"{server}/v1/responses",
        json=body,
        headers={"Authorization": f"Bearer {team_key}"},
        timeout=20,
    )
    blocks = answer.text.strip().split("\n\n")
    assert all(block.startswith("event: ") for block in blocks)
    assert "[DONE]" not in answer.text
    last = json.loads(blocks[-1].split("data: ", 1)[1])
    assert last["type"] == "response.completed"
    assert last["response"]["usage"]["credits"] == {
        "charged": 1,
        "remaining": account(team).credits_remaining,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("behaviour", ["fake-echo", "fake-no-usage"])
@pytest.mark.parametrize("fallback", [False, True], ids=["direct", "fallback"])
def test_each_request_is_one_call_and_at_most_one_charge_of_its_size(
    client, by_tokens, make_alias, stream, behaviour, fallback
):
    make_alias("answer", behaviour)
    model = "answer"
    if fallback:
        make_alias("flaky", "fake-fail-429", fallbacks=["answer"])
        model = "flaky"
    if stream:
        events = list(
            client.responses.create(
                model=model, input="hi", max_output_tokens=60, stream=True
            )
        )
        response = events[-1].response
    else:
        response = client.responses.create(
            model=model, input="hi", max_output_tokens=60
        )
    assert response.model == model
    call = LLMCall.objects.get()
    assert call.status == CallStatus.SUCCEEDED
    assert call.usage_estimated == (behaviour == "fake-no-usage")
    assert response.usage.total_tokens == call.total_tokens
    assert deductions() == [math.ceil(call.total_tokens / 3)]
    assert credits_reconcile() == {}


def wait_for_outcome(seconds: float = 10) -> LLMCall:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call = LLMCall.objects.select_related("job").first()
        if call is not None and call.job.status != JobStatus.IN_PROGRESS:
            return call
        time.sleep(0.05)
    raise AssertionError("the call was never settled")


@pytest.mark.parametrize("events_read", [1, 4])
def test_a_stream_cut_by_the_client_is_billed_once_and_not_stored(
    server, team_key, chat_alias, by_tokens, fake_provider, events_read
):
    fake_provider.state.behaviour.chunks = 30
    fake_provider.state.behaviour.chunk_delay = 0.05
    body = {
        "model": "chat",
        "input": "word " * 60,
        "max_output_tokens": 60,
        "stream": True,
    }
    with requests.post(
        f"{server}/v1/responses",
        json=body,
        headers={"Authorization": f"Bearer {team_key}"},
        stream=True,
        timeout=10,
    ) as response:
        blocks = response.iter_lines(delimiter=b"\n\n")
        received = [next(blocks) for _ in range(events_read)]
    assert received[0].startswith(b"event: response.created")
    call = wait_for_outcome()
    assert call.finish_reason == "client_disconnected"
    assert deductions() == [math.ceil(call.total_tokens / 3)]
    assert credits_reconcile() == {}
    assert not StoredResponse.objects.exists()


@pytest.fixture
def second_process(server):
    """The same app served by another process, on the same database."""
    import os
    import subprocess
    import sys

    from django.db import connection

    from jobs.tests.live import free_port

    port = free_port()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "saas_litellm.asgi:application",
         "--port", str(port), "--log-level", "warning", "--lifespan", "off"],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/v1/models", timeout=10)
            break
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the second server did not start") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_a_chain_is_expanded_by_the_gateway_across_providers_and_processes(
    server, second_process, team_key, chat_alias, make_alias, fake_provider
):
    make_alias("flaky", "fake-fail-429", fallbacks=["chat"])
    here, there = sdk(server, team_key), sdk(second_process, team_key)
    since = len(fake_provider.state.requests)
    first = here.responses.create(
        model="chat", input="one", instructions="Answer in French."
    )
    second = there.responses.create(
        model="flaky", input="two", previous_response_id=first.id
    )
    third = here.responses.create(
        model="chat",
        input=[{"role": "user", "content": "three"}],
        previous_response_id=second.id,
        instructions="Be brief.",
    )
    assert (second.model, second.previous_response_id) == ("flaky", first.id)
    assert third.output_text == "Echo: three"
    bodies = provider_bodies(fake_provider, since)
    assert [body["model"] for body in bodies] == [
        "fake-echo",
        "fake-fail-429",
        "fake-fail-429",  # retried once (ROUTER_RETRIES), then its fallback
        "fake-echo",
        "fake-echo",
    ]
    assert bodies[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [{"type": "text", "text": "Echo: one"}]},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": [{"type": "text", "text": "Echo: two"}]},
        {"role": "user", "content": "three"},
    ]
    assert all("previous_response_id" not in json.dumps(body) for body in bodies)
    assert LLMCall.objects.count() == 3
    assert credits_reconcile() == {}


def test_a_function_call_round_trips_through_a_stored_chain(client, fake_provider):
    asked = client.responses.create(
        model="chat", input="Weather in Paris?", tools=[WEATHER]
    )
    (call,) = asked.output
    assert (call.type, call.name) == ("function_call", "get_weather")
    assert json.loads(call.arguments) == {"input": "Weather in Paris?"}
    answered = client.responses.create(
        model="chat",
        previous_response_id=asked.id,
        input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "sun"}
        ],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert answered.output_text == "Echo: Weather in Paris?"
    messages = fake_provider.state.requests[-1]["body"]["messages"]
    assert messages[1]["tool_calls"] == [
        {
            "id": call.call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": call.arguments},
        }
    ]
    assert messages[2] == {
        "role": "tool",
        "content": "sun",
        "tool_call_id": call.call_id,
    }


def test_a_streamed_function_call_has_its_argument_events(client):
    events = list(
        client.responses.create(
            model="chat", input="Weather?", tools=[WEATHER], stream=True
        )
    )
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds
    (done,) = [e for e in events if e.type == "response.function_call_arguments.done"]
    item = events[-1].response.output[0]
    assert (item.type, item.arguments, done.arguments) == (
        "function_call",
        '{"input": "Weather?"}',
        item.arguments,
    )
    assert done.item_id == item.id


def test_a_stored_response_is_read_and_deleted_by_its_team_only(
    client, server, other_team_key
):
    created = client.responses.create(model="chat", input="hi")
    stranger = sdk(server, other_team_key)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.delete(created.id)
    assert client.responses.retrieve(created.id) == created
    deleted = client.responses.with_raw_response.delete(created.id)
    assert json.loads(deleted.http_response.text) == {
        "id": created.id,
        "object": "response",
        "deleted": True,
    }
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_a_deleted_or_unstored_response_cannot_be_continued(client):
    kept = client.responses.create(model="chat", input="hi")
    unstored = client.responses.create(model="chat", input="hi", store=False)
    client.responses.delete(kept.id)
    before = rows()
    for response_id in (kept.id, unstored.id):
        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.create(
                model="chat", input="again", previous_response_id=response_id
            )
        assert missing.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    assert rows() == before


def test_a_response_of_another_team_cannot_be_continued(
    client, server, other_team_key, other_team, access_group
):
    other_team.access_groups.add(access_group)
    theirs = sdk(server, other_team_key).responses.create(model="chat", input="x")
    before = rows()
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="chat", input="y", previous_response_id=theirs.id)
    assert rows() == before


@pytest.mark.parametrize(
    "refusal",
    ["bad key", "model not allowed", "rate limited", "unknown previous id"],
)
def test_a_refused_request_writes_nothing(
    server, team_key, team, chat_alias, fake_provider, refusal
):
    key, body = team_key, {"model": "chat", "input": "hi"}
    if refusal == "bad key":
        key = "sk-not-a-key"
    elif refusal == "model not allowed":
        body["model"] = "not-ours"
    elif refusal == "rate limited":
        team.max_parallel_requests = 1
        team.save()
        rate_limit_acquire(team=team)
    else:
        body["previous_response_id"] = "resp_" + "0" * 48
    before, contacted = rows(), fake_provider.request_count
    with pytest.raises(openai.APIStatusError) as refused:
        sdk(server, key).responses.create(**body)
    expected = {"bad key": 401, "model not allowed": 403, "rate limited": 429}
    assert refused.value.status_code == expected.get(refusal, 404)
    assert (rows(), fake_provider.request_count) == (before, contacted)


@pytest.mark.parametrize("tool", ["web_search", "file_search", "code_interpreter"])
def test_a_built_in_tool_is_refused_by_name(client, fake_provider, tool):
    before = rows()
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="chat", input="hi", tools=[{"type": tool}])
    assert tool in refused.value.message
    assert refused.value.param == "tools"
    assert rows() == before


def test_an_unknown_field_is_refused_by_name(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="chat", input="hi", extra_body={"colour": 1})
    assert refused.value.param == "colour"
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "response_id", ["%00", "nope", "resp_a%00b", "resp_" + "a" * 101]
)
def test_an_id_that_cannot_be_one_is_a_400(server, team_key, response_id):
    answer = requests.get(
        f"{server}/v1/responses/{response_id}",
        headers={"Authorization": f"Bearer {team_key}"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_text_format_json_schema_becomes_response_format(client, fake_provider):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    answer = client.responses.create(
        model="chat",
        input="Paris",
        text={"format": {"type": "json_schema", "name": "place", "schema": schema}},
    )
    assert json.loads(answer.output_text) == {"city": "Paris"}
    sent = fake_provider.state.requests[-1]["body"]["response_format"]
    assert sent == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": schema},
    }
