"""Streamed LLM calls through the typed client, against the live server."""

from __future__ import annotations

import time
import uuid

import pytest
from saas_litellm_client import (
    ModelAccessDeniedError,
    SaasLiteLLMClient,
    StreamChunk,
    StreamError,
    StreamUsage,
)

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

HELLO = [{"role": "user", "content": "hello there"}]


async def test_chunks_arrive_then_the_usage_item(asgi_client_args, chat_alias):
    async with SaasLiteLLMClient(**asgi_client_args) as client:
        job = await client.create_job("chat")
        events = [e async for e in client.chat_stream(job.job_id, chat_alias, HELLO)]
    chunks, last = events[:-1], events[-1]
    assert len(chunks) > 1
    assert all(isinstance(chunk, StreamChunk) for chunk in chunks)
    assert "".join(chunk.content for chunk in chunks) == "Echo: hello there"
    assert chunks[-1].finish_reason == "stop"
    assert {chunk.model for chunk in chunks} == {chat_alias}
    assert isinstance(last, StreamUsage)
    assert uuid.UUID(last.call_id)
    assert last.usage.total_tokens == (
        last.usage.prompt_tokens + last.usage.completion_tokens
    )
    assert last.usage.total_tokens > 0


@pytest.fixture
def slow_chunks(fake_provider):
    """The fake provider waits 0.15 s between chunks during the test."""
    fake_provider.state.behaviour.chunk_delay = 0.15
    yield 0.15
    fake_provider.state.behaviour.chunk_delay = 0.0


async def test_chunks_are_yielded_as_the_provider_produces_them(
    asgi_client_args, chat_alias, slow_chunks
):
    async with SaasLiteLLMClient(**asgi_client_args) as client:
        job = await client.create_job("chat")
        arrivals = [
            time.monotonic()
            async for _ in client.chat_stream(job.job_id, chat_alias, HELLO)
        ]
    # Four content chunks 0.15 s apart: the first is in hand long before the last.
    assert arrivals[-1] - arrivals[0] >= 3 * slow_chunks * 0.8


async def test_the_stream_keeps_the_assembled_answer(asgi_client_args, chat_alias):
    async with SaasLiteLLMClient(**asgi_client_args) as client:
        job = await client.create_job("chat")
        async with client.chat_stream(job, chat_alias, HELLO) as stream:
            async for _ in stream:
                pass
        completion = await client.complete_job(job)
    assert stream.content == "Echo: hello there"
    assert stream.finish_reason == "stop"
    assert [call.call_id for call in completion.calls] == [stream.call_id]
    assert completion.costs.total_tokens == stream.usage.usage.total_tokens


async def test_a_refusal_before_the_stream_is_a_typed_error(
    asgi_client_args, chat_alias
):
    async with SaasLiteLLMClient(**asgi_client_args) as client:
        job = await client.create_job("chat")
        stream = client.chat_stream(job.job_id, "no-such-model", HELLO)
        with pytest.raises(ModelAccessDeniedError) as caught:
            await anext(aiter(stream))
    assert caught.value.status_code == 403
    assert caught.value.code == "model_access_denied"


async def test_a_provider_failure_mid_stream_raises_a_stream_error(
    asgi_client_args, model_aliases
):
    async with SaasLiteLLMClient(**asgi_client_args) as client:
        job = await client.create_job("chat")
        stream = client.chat_stream(job.job_id, model_aliases["breaking"], HELLO)
        with pytest.raises(StreamError) as caught:
            _ = [event async for event in stream]
    assert caught.value.error_type == "provider_error"
    assert stream.content  # the chunks before the failure were received
