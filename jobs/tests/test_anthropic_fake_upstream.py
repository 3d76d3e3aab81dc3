"""The fake provider's Anthropic side: Messages API answers, streamed or not, usage
with cache figures, tool use, and the behaviours picked by the model name."""

from __future__ import annotations

import json

import pytest
import requests

REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 50,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "one two three four five six"}],
}
HEADERS = {"x-api-key": "sk-ant-fake-secret-wxyz", "anthropic-version": "2023-06-01"}


def post(provider, stream: bool = False, **fields):
    return requests.post(
        f"{provider.anthropic_api_base}/v1/messages",
        json={**REQUEST, **fields, "stream": stream},
        headers=HEADERS,
        timeout=5,
    )


def events(provider, **fields) -> list[dict]:
    raw = post(provider, stream=True, **fields).text
    frames = [frame.split("\n") for frame in raw.split("\n\n") if frame]
    payloads = [json.loads(data[len("data: ") :]) for _, data in frames]
    assert [f[0] for f in frames] == [f"event: {p['type']}" for p in payloads]
    return payloads


def test_it_answers_in_anthropics_format_with_usage(fake_provider):
    answer = post(fake_provider).json()
    assert (answer["type"], answer["role"], answer["stop_reason"]) == (
        "message",
        "assistant",
        "end_turn",
    )
    assert answer["content"] == [
        {"type": "text", "text": "Echo: one two three four five six"}
    ]
    assert answer["usage"] == {
        "input_tokens": 9,  # the system prompt's characters too, 1 token per 4
        "output_tokens": 7,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def test_a_stream_follows_anthropics_event_sequence(fake_provider):
    payloads = events(fake_provider)
    kinds = [payload["type"] for payload in payloads]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    text = "".join(p["delta"]["text"] for p in payloads[2:-3])
    assert text == "Echo: one two three four five six"
    assert payloads[0]["message"]["usage"]["input_tokens"] == 9
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert payloads[-2]["usage"] == {"output_tokens": 7}


def test_cache_figures_are_part_of_the_prompt(fake_provider):
    fake_provider.state.behaviour.cache_read_tokens = 5
    fake_provider.state.behaviour.cache_write_tokens = 50
    usage = post(fake_provider).json()["usage"]
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (
        5,
        4,
    )
    assert usage["input_tokens"] == 0
    assert events(fake_provider)[0]["message"]["usage"]["cache_read_input_tokens"] == 5


def test_with_tools_the_answer_uses_the_first(fake_provider):
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    (block,) = post(fake_provider, tools=tools).json()["content"]
    assert block == {
        "type": "tool_use",
        "id": "toolu_fake_1",
        "name": "lookup",
        "input": {"input": "one two three four five six"},
    }
    payloads = events(fake_provider, tools=tools)
    partial = [p["delta"]["partial_json"] for p in payloads[2:-3]]
    assert json.loads("".join(partial)) == block["input"]
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"


def test_an_overloaded_model_answers_anthropics_529(fake_provider):
    response = post(fake_provider, model="claude-fake-529")
    assert response.status_code == 529
    assert response.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded (fake)"},
    }


def test_without_usage_there_is_none_streamed_or_not(fake_provider):
    assert "usage" not in post(fake_provider, model="claude-fake-no-usage").json()
    payloads = events(fake_provider, model="claude-fake-no-usage")
    assert not any("usage" in p or "usage" in p.get("message", {}) for p in payloads)


def test_a_broken_stream_stops_after_two_deltas(fake_provider):
    body = {**REQUEST, "model": "claude-fake-break-stream", "stream": True}
    url = f"{fake_provider.anthropic_api_base}/v1/messages"
    received = []
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        requests.post(url, json=body, stream=True, timeout=5) as response,
    ):
        received.extend(response.iter_lines())
    assert received.count(b"event: content_block_delta") == 2
    assert post(fake_provider, model="claude-fake-break-stream").status_code == 500


def test_requests_are_kept_without_the_key(fake_provider):
    post(fake_provider)
    request = fake_provider.state.requests[-1]
    assert (request["path"], request["body"]["system"]) == ("/v1/messages", "Be brief.")
    assert request["headers"]["x-api-key"] == "…wxyz"
