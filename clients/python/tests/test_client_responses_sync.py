"""The blocking client's Responses API does the same work as the async one (live
server)."""

from __future__ import annotations

import pytest
from saas_litellm_client import (
    AuthenticationError,
    ModelAccessDeniedError,
    NotFoundError,
    ResponseCompleted,
    ResponseFunctionCallArgumentsDelta,
    ResponseTextDelta,
    SaasLiteLLMSyncClient,
)

# PostgreSQL only: see test_client_jobs.py.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LOOKUP = {
    "type": "function",
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"input": {"type": "string"}}},
}


def test_a_script_holds_a_conversation(asgi_client_args, chat_alias, fake_provider):
    with SaasLiteLLMSyncClient(**asgi_client_args) as client:
        first = client.respond(chat_alias, "one")
        with client.respond_stream(
            chat_alias, "two", previous_response_id=first
        ) as stream:
            events = list(stream)
        sent = fake_provider.state.requests[-1]["body"]["messages"]
        third = client.respond(
            chat_alias, "three", previous_response_id=stream.response
        )
        stored = client.get_response(third.id)
        deleted = client.delete_response(third)
        with pytest.raises(NotFoundError):
            client.get_response(third.id)
        balance = client.get_balance()
    deltas = [event.delta for event in events if isinstance(event, ResponseTextDelta)]
    last = events[-1]
    assert first.output_text == "Echo: one"
    assert [message["role"] for message in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "one"
    assert sent[1]["content"] == [{"type": "text", "text": "Echo: one"}]
    assert isinstance(last, ResponseCompleted)
    assert "".join(deltas) == last.response.output_text == "Echo: two"
    assert last.response.previous_response_id == first.id
    assert last.credits.charged == 1
    assert last.usage.total_tokens > 0
    assert stream.call_id == last.response.call_id
    assert third.output_text == "Echo: three"
    assert stored.output_text == third.output_text
    assert deleted.deleted is True
    # Three one-call jobs, one credit each.
    assert third.credits.remaining == balance.credits_remaining == 97


def test_a_script_attaches_calls_to_a_job(asgi_client_args, chat_alias):
    with SaasLiteLLMSyncClient(**asgi_client_args) as client:
        job = client.create_job("responses")
        answer = client.respond(chat_alias, "hello", job_id=job)
        with client.respond_stream(
            chat_alias, "hello", job_id=job, tools=[LOOKUP]
        ) as stream:
            events = list(stream)
        completion = client.complete_job(job)
    arguments = [
        event.delta
        for event in events
        if isinstance(event, ResponseFunctionCallArgumentsDelta)
    ]
    assert answer.job_id == stream.job_id == job.job_id
    assert answer.credits.charged == stream.credits.charged == 0
    assert "".join(arguments) == stream.response.function_calls[0].arguments
    assert [call.call_id for call in completion.calls] == [
        answer.call_id,
        stream.call_id,
    ]
    assert completion.costs.credits_charged == 1


def test_the_sync_client_raises_the_same_typed_errors(client_args, chat_alias):
    with SaasLiteLLMSyncClient(**client_args) as client:
        with pytest.raises(ModelAccessDeniedError):
            client.respond("no-such-model", "hello")
        with pytest.raises(ModelAccessDeniedError):
            list(client.respond_stream("no-such-model", "hello"))
        with pytest.raises(NotFoundError):
            client.delete_response("resp_unknown")
    bad = {**client_args, "virtual_key": "sk-" + "f" * 32}
    with (
        SaasLiteLLMSyncClient(**bad) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.respond(chat_alias, "hello")
    assert caught.value.status_code == 401
