"""Non-streamed LLM calls through the typed client, against the live server."""

from __future__ import annotations

import json
import uuid

import pytest
from saas_litellm_client import ChatResult, SaasLiteLLMClient, ToolCall

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

HELLO = [{"role": "user", "content": "hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def test_chat_returns_a_typed_result(client_args, chat_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("chat")
        result = await client.chat(job.job_id, chat_alias, HELLO, temperature=0.1)
    assert isinstance(result, ChatResult)
    assert uuid.UUID(result.call_id)
    assert result.content == "Echo: hello there"
    assert result.finish_reason == "stop"
    assert result.tool_calls == []
    assert result.metadata.model == chat_alias
    assert result.usage.tokens_used == (
        result.usage.prompt_tokens + result.usage.completion_tokens
    )
    assert result.usage.tokens_used > 0


async def test_chat_returns_typed_tool_calls(client_args, chat_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("chat")
        result = await client.chat(
            job, chat_alias, HELLO, tools=[WEATHER_TOOL], tool_choice="auto"
        )
    assert result.finish_reason == "tool_calls"
    assert isinstance(result.tool_calls[0], ToolCall)
    assert result.tool_calls[0].function.name == "get_weather"
    assert json.loads(result.tool_calls[0].function.arguments) == {
        "input": "hello there"
    }


async def test_the_request_reaches_the_provider_with_its_parameters(
    client_args, chat_alias, fake_provider
):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("chat")
        await client.chat(job.job_id, chat_alias, HELLO, max_tokens=50, stop=["\n"])
    sent = fake_provider.state.requests[-1]["body"]
    assert sent["messages"] == HELLO
    assert sent["max_tokens"] == 50
    assert sent["stop"] == ["\n"]
