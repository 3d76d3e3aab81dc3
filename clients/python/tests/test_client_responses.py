"""The Responses API (/v1/responses) through the typed client, against the live
server: respond, chains, streams, jobs, stored responses and errors."""

from __future__ import annotations

import json
import uuid

import pytest
from saas_litellm_client import (
    AuthenticationError,
    InsufficientCreditsError,
    JobClosedError,
    ModelAccessDeniedError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    Response,
    ResponseCompleted,
    ResponseFunctionCallArgumentsDelta,
    ResponseRawEvent,
    ResponseTextDelta,
    SaasLiteLLMClient,
    StreamError,
    ValidationError,
)

from credits.services import credit_add
from teams.services import team_access_groups_set, team_create

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

ACTOR = "client-tests"
LOOKUP = {
    "type": "function",
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"input": {"type": "string"}},
        "required": ["input"],
    },
}


def client_for(client_args: dict, **changes: object) -> SaasLiteLLMClient:
    return SaasLiteLLMClient(**{**client_args, **changes})


def message_texts(messages: list[dict]) -> list[tuple[str, str]]:
    """(role, text) of chat messages as the provider received them."""
    texts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        texts.append((message["role"], content))
    return texts


async def test_respond_returns_the_text_its_usage_and_its_credits(
    client_args, chat_alias
):
    async with client_for(client_args) as client:
        response = await client.respond(chat_alias, "hello there")
        balance = await client.get_balance()
        job = await client.get_job(response.job_id)
    assert isinstance(response, Response)
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == chat_alias
    assert response.output_text == "Echo: hello there"
    assert [item["type"] for item in response.output] == ["message"]
    assert response.function_calls == []
    usage = response.usage
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.cached_tokens == 0
    assert usage.reasoning_tokens == 0
    # A call without a job is a one-call job, closed and charged at once.
    assert response.credits.charged == 1
    assert response.credits.remaining == balance.credits_remaining == 99
    assert uuid.UUID(response.call_id)
    assert job.status == "completed"
    assert job.credits_charged == 1


async def test_options_reach_the_provider_and_are_echoed(
    client_args, chat_alias, fake_provider
):
    async with client_for(client_args) as client:
        response = await client.respond(
            chat_alias,
            [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
            instructions="Answer briefly.",
            max_output_tokens=50,
            temperature=0.3,
            metadata={"ticket": "T-1"},
        )
    sent = fake_provider.state.requests[-1]["body"]
    assert message_texts(sent["messages"]) == [
        ("system", "Answer briefly."),
        ("user", "hi"),
    ]
    assert sent["max_tokens"] == 50
    assert sent["temperature"] == 0.3
    assert response.output_text == "Echo: hi"
    assert response.model_extra["instructions"] == "Answer briefly."
    assert response.model_extra["metadata"] == {"ticket": "T-1"}
    assert response.model_extra["temperature"] == 0.3


async def test_a_chain_of_three_turns_sends_the_whole_history(
    client_args, chat_alias, fake_provider
):
    async with client_for(client_args) as client:
        first = await client.respond(chat_alias, "one", instructions="Be brief.")
        second = await client.respond(chat_alias, "two", previous_response_id=first)
        third = await client.respond(
            chat_alias, "three", previous_response_id=second.id
        )
    assert second.previous_response_id == first.id
    assert third.previous_response_id == second.id
    assert third.output_text == "Echo: three"
    # The gateway expands the chain itself; instructions are not part of it.
    assert message_texts(fake_provider.state.requests[-1]["body"]["messages"]) == [
        ("user", "one"),
        ("assistant", "Echo: one"),
        ("user", "two"),
        ("assistant", "Echo: two"),
        ("user", "three"),
    ]


async def test_a_stream_yields_deltas_then_the_completed_response(
    asgi_client_args, chat_alias
):
    async with client_for(asgi_client_args) as client:
        async with client.respond_stream(chat_alias, "hello there") as stream:
            events = [event async for event in stream]
        balance = await client.get_balance()
        stored = await client.get_response(stream.response)
    deltas = [event for event in events if isinstance(event, ResponseTextDelta)]
    last = events[-1]
    assert isinstance(events[0], ResponseRawEvent)
    assert events[0].type == "response.created"
    assert len(deltas) > 1
    assert isinstance(last, ResponseCompleted)
    assert last.type == "response.completed"
    assert "".join(delta.delta for delta in deltas) == last.response.output_text
    assert last.response.output_text == "Echo: hello there"
    assert last.usage.total_tokens == (
        last.usage.input_tokens + last.usage.output_tokens
    )
    assert last.usage.total_tokens > 0
    assert last.credits.charged == 1
    assert last.credits.remaining == balance.credits_remaining
    # The stream keeps what it assembled, and the ids of its call.
    assert stream.response == last.response
    assert stream.output_text == "Echo: hello there"
    assert stream.response_id == last.response.id
    assert stream.call_id == last.response.call_id
    assert uuid.UUID(stream.call_id)
    assert stream.job_id == last.response.job_id
    # Sequence numbers count every event, unknown ones included.
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert stored.output_text == last.response.output_text


async def test_a_function_call_streams_its_arguments(asgi_client_args, chat_alias):
    async with (
        client_for(asgi_client_args) as client,
        client.respond_stream(
            chat_alias, "hello", tools=[LOOKUP], tool_choice="auto"
        ) as stream,
    ):
        events = [event async for event in stream]
    argument_deltas = [
        event
        for event in events
        if isinstance(event, ResponseFunctionCallArgumentsDelta)
    ]
    calls = stream.response.function_calls
    assert argument_deltas
    assert [call.name for call in calls] == ["lookup"]
    assert "".join(delta.delta for delta in argument_deltas) == calls[0].arguments
    assert json.loads(calls[0].arguments) == {"input": "hello"}
    assert stream.output_text == ""


async def test_a_function_call_and_its_output_make_a_conversation(
    client_args, chat_alias, fake_provider
):
    async with client_for(client_args) as client:
        asked = await client.respond(chat_alias, "weather?", tools=[LOOKUP])
        call = asked.function_calls[0]
        answered = await client.respond(
            chat_alias,
            [
                {
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": "sunny",
                },
                {"role": "user", "content": "thanks"},
            ],
            previous_response_id=asked,
        )
    assert call.name == "lookup"
    assert json.loads(call.arguments) == {"input": "weather?"}
    sent = fake_provider.state.requests[-1]["body"]["messages"]
    assert [message["role"] for message in sent] == [
        "user",
        "assistant",
        "tool",
        "user",
    ]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id
    assert sent[2]["tool_call_id"] == call.call_id
    assert answered.output_text == "Echo: thanks"


async def test_job_id_attaches_the_calls_to_an_open_job(
    client_args, asgi_client_args, chat_alias
):
    async with (
        client_for(client_args) as client,
        client_for(asgi_client_args) as streaming,
    ):
        job = await client.create_job("responses")
        first = await client.respond(chat_alias, "one", job_id=job)
        async with streaming.respond_stream(
            chat_alias, "two", job_id=job.job_id, previous_response_id=first
        ) as stream:
            _ = [event async for event in stream]
        open_job = await client.get_job(job)
        completion = await client.complete_job(job)
    second = stream.response
    assert first.job_id == second.job_id == stream.job_id == job.job_id
    # Charged when the job is completed, not per call.
    assert first.credits.charged == 0
    assert second.credits.charged == 0
    assert open_job.status in ("pending", "in_progress")
    assert [call.call_id for call in completion.calls] == [
        first.call_id,
        second.call_id,
    ]
    assert completion.costs.credits_charged == 1
    # The job's credit was reserved when it was created.
    assert completion.costs.credits_remaining == first.credits.remaining


async def test_a_call_on_a_closed_job_is_refused(client_args, chat_alias):
    async with client_for(client_args) as client:
        job = await client.create_job("responses")
        await client.complete_job(job)
        with pytest.raises(JobClosedError) as caught:
            await client.respond(chat_alias, "hello", job_id=job)
        with pytest.raises(NotFoundError):
            await client.respond(chat_alias, "hello", job_id=uuid.uuid4())
    assert caught.value.status_code == 409
    assert caught.value.code == "job_closed"


async def test_a_stored_response_is_read_then_deleted(client_args, chat_alias):
    async with client_for(client_args) as client:
        response = await client.respond(chat_alias, "keep me")
        by_id = await client.get_response(response.id)
        by_object = await client.get_response(response)
        deleted = await client.delete_response(response)
        with pytest.raises(NotFoundError) as gone:
            await client.get_response(response.id)
        with pytest.raises(NotFoundError):
            await client.delete_response(response.id)
        with pytest.raises(NotFoundError) as not_continued:
            await client.respond(chat_alias, "more", previous_response_id=response)
    assert by_id == by_object
    assert by_id.id == response.id
    assert by_id.output_text == "Echo: keep me"
    assert by_id.usage == response.usage
    assert by_id.call_id is None  # only a call's answer has the call's headers
    assert deleted.id == response.id
    assert deleted.deleted is True
    assert gone.value.status_code == 404
    assert gone.value.code == "not_found"
    assert response.id in gone.value.detail
    assert not_continued.value.code == "not_found"


async def test_an_unstored_response_cannot_be_read(client_args, chat_alias):
    async with client_for(client_args) as client:
        response = await client.respond(chat_alias, "forget me", store=False)
        with pytest.raises(NotFoundError):
            await client.get_response(response.id)
    assert response.output_text == "Echo: forget me"
    assert response.model_extra["store"] is False


async def test_another_teams_response_is_not_found(
    client_args, other_team_key, chat_alias
):
    other_args = {**client_args, "team_id": "globex", "virtual_key": other_team_key}
    async with client_for(client_args) as client, client_for(other_args) as other:
        response = await client.respond(chat_alias, "mine")
        with pytest.raises(NotFoundError):
            await other.get_response(response.id)
        with pytest.raises(NotFoundError):
            await other.delete_response(response.id)
        assert (await client.get_response(response.id)).id == response.id


async def test_an_unknown_alias_is_access_denied(client_args, chat_alias):
    async with client_for(client_args) as client:
        with pytest.raises(ModelAccessDeniedError) as caught:
            await client.respond("no-such-model", "hello")
        stream = client.respond_stream("no-such-model", "hello")
        with pytest.raises(ModelAccessDeniedError):
            _ = [event async for event in stream]
    assert caught.value.status_code == 403
    assert caught.value.code == "model_access_denied"
    assert caught.value.detail == "Team does not have access to the requested model"


@pytest.mark.parametrize("key", ["sk-" + "f" * 32, "not-a-key"])
async def test_a_bad_key_is_an_authentication_error(client_args, key):
    async with client_for(client_args, virtual_key=key) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.respond("client-chat", "hello")
        with pytest.raises(AuthenticationError):
            await client.get_response("resp_abc")
    assert caught.value.status_code == 401
    assert caught.value.detail == "Invalid or missing API key"


async def test_an_invalid_request_names_its_parameter(client_args, chat_alias):
    async with client_for(client_args) as client:
        with pytest.raises(ValidationError) as unknown:
            await client.respond(chat_alias, "hello", frobnicate=True)
        with pytest.raises(ValidationError) as builtin:
            await client.respond(chat_alias, "hello", tools=[{"type": "web_search"}])
    assert unknown.value.status_code == 400
    assert unknown.value.code == "invalid_request"
    assert unknown.value.detail == "Unknown parameter: 'frobnicate'."
    assert unknown.value.errors == {"frobnicate": ["Unknown parameter: 'frobnicate'."]}
    assert list(builtin.value.errors) == ["tools"]
    assert "web_search" in builtin.value.detail


@pytest.fixture
def broke_team_args(client_args, organization, model_aliases) -> dict:
    """A client for a team that may use the aliases but has never been given
    credits."""
    broke = team_create(organization=organization, team_id="broke", actor=ACTOR)
    team_access_groups_set(
        team=broke.key.team, group_names=["client-tests"], actor=ACTOR
    )
    return {**client_args, "team_id": "broke", "virtual_key": broke.plaintext}


async def test_a_team_without_credits_gets_insufficient_credits(
    broke_team_args, chat_alias
):
    async with client_for(broke_team_args) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.respond(chat_alias, "hello")
    assert caught.value.status_code == 403
    assert caught.value.code == "insufficient_credits"


@pytest.fixture
def limited_team_args(client_args, organization, model_aliases, whole_window) -> dict:
    """A client for a funded team allowed one request per minute."""
    limited = team_create(
        organization=organization,
        team_id="limited",
        actor=ACTOR,
        requests_per_minute=1,
    )
    credit_add(team=limited.key.team, credits=10, actor=ACTOR)
    team_access_groups_set(
        team=limited.key.team, group_names=["client-tests"], actor=ACTOR
    )
    return {**client_args, "team_id": "limited", "virtual_key": limited.plaintext}


async def test_a_rate_limited_team_gets_retry_after(limited_team_args, chat_alias):
    async with client_for(limited_team_args, max_retries=0) as client:
        await client.respond(chat_alias, "hello")
        with pytest.raises(RateLimitError) as caught:
            await client.respond(chat_alias, "hello")
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limited"
    assert 1 <= caught.value.retry_after <= 60


async def test_a_provider_failure_is_a_provider_error(client_args, model_aliases):
    async with client_for(client_args) as client:
        with pytest.raises(ProviderError) as caught:
            await client.respond(model_aliases["failing"], "hello")
    assert caught.value.status_code == 502
    assert caught.value.code == "provider_error"


async def test_a_provider_failure_mid_stream_raises_a_stream_error(
    asgi_client_args, model_aliases
):
    async with client_for(asgi_client_args) as client:
        stream = client.respond_stream(model_aliases["breaking"], "hello there")
        with pytest.raises(StreamError) as caught:
            _ = [event async for event in stream]
    assert caught.value.error_type == "provider_error"
    assert stream.output_text  # the deltas before the failure were received
    assert stream.response is None
