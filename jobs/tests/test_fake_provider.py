"""The fake provider itself: OpenAI's format, per-request behaviour, counting."""

from __future__ import annotations

import base64
import json
import struct

import pytest
import requests

CHAT = {
    "model": "fake-echo",
    "messages": [{"role": "user", "content": "one two three four five six"}],
}


def post(provider, body, **headers):
    return requests.post(
        f"{provider.api_base}/chat/completions", json=body, headers=headers, timeout=5
    )


def test_it_answers_in_openai_format_with_usage(fake_provider):
    body = post(fake_provider, CHAT).json()
    assert body["object"] == "chat.completion"
    assert (
        body["choices"][0]["message"]["content"] == "Echo: one two three four five six"
    )
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_the_chunk_count_is_set_per_request(fake_provider):
    stream = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    raw = post(fake_provider, stream, **{"X-Fake-Chunks": "6"}).text
    frames = [f[6:] for f in raw.split("\n\n") if f.startswith("data: ")]
    assert frames[-1] == "[DONE]"
    contents = [json.loads(f)["choices"] for f in frames[:-1]]
    assert sum(1 for c in contents if c and c[0]["delta"].get("content")) == 6
    assert json.loads(frames[-2])["usage"]["total_tokens"] > 0


def test_injected_failures_answer_their_status(fake_provider):
    for model, status in (("fake-fail-429", 429), ("fake-fail-500", 500)):
        assert post(fake_provider, {**CHAT, "model": model}).status_code == status


def test_every_request_is_counted(fake_provider):
    before = fake_provider.request_count
    post(fake_provider, CHAT)
    assert fake_provider.request_count == before + 1


def stream_lines(provider, model, **extra):
    body = {**CHAT, "model": model, "stream": True, **extra}
    body["stream_options"] = {"include_usage": True}
    raw = post(provider, body).text
    return [f[6:] for f in raw.split("\n\n") if f.startswith("data: ")]


def test_without_usage_there_is_none_streamed_or_not(fake_provider):
    assert "usage" not in post(fake_provider, {**CHAT, "model": "fake-no-usage"}).json()
    lines = stream_lines(fake_provider, "fake-no-usage")
    assert lines[-1] == "[DONE]"
    assert not any("usage" in json.loads(line) for line in lines[:-1])


def test_bad_usage_figures_are_sent_as_they_are(fake_provider):
    huge = post(fake_provider, {**CHAT, "model": "fake-usage-huge"}).text
    assert '"prompt_tokens": 5000000000.0' in huge
    lines = stream_lines(fake_provider, "fake-usage-string")
    assert json.loads(lines[-2])["usage"]["prompt_tokens"] == "many"


def test_malformed_chunks_come_after_a_good_one_then_done(fake_provider):
    lines = stream_lines(fake_provider, "fake-bad-chunks")
    assert json.loads(lines[0])["choices"][0]["delta"]["content"]
    assert lines[-1] == "[DONE]"
    for line in lines[1:-1]:
        with pytest.raises(ValueError):
            json.loads(line)


def test_a_malformed_first_chunk_and_a_body_that_is_not_json(fake_provider):
    with pytest.raises(ValueError):
        json.loads(stream_lines(fake_provider, "fake-bad-first-chunk")[0])
    with pytest.raises(ValueError):
        post(fake_provider, {**CHAT, "model": "fake-bad-first-chunk"}).json()


def test_an_empty_stream_is_only_done(fake_provider):
    assert stream_lines(fake_provider, "fake-empty") == ["[DONE]"]
    assert post(fake_provider, {**CHAT, "model": "fake-empty"}).json()["choices"] == []


def test_the_strict_model_refuses_a_tool_schema_as_openai_does(fake_provider):
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    response = post(fake_provider, {**CHAT, "model": "fake-strict", "tools": [tool]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tools[0].function.parameters"
    tool["function"]["parameters"] = {"type": "object"}
    assert post(fake_provider, {**CHAT, "model": "fake-strict", "tools": [tool]}).ok


def embed(provider, **body):
    body = {"model": "fake-echo", "input": "hello", **body}
    return requests.post(f"{provider.api_base}/embeddings", json=body, timeout=5)


def test_embeddings_are_deterministic_vectors_with_usage(fake_provider):
    first = embed(fake_provider, input=["one", "two"], dimensions=3).json()
    assert first == embed(fake_provider, input=["one", "two"], dimensions=3).json()
    assert [len(item["embedding"]) for item in first["data"]] == [3, 3]
    assert first["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


def test_base64_embeddings_are_little_endian_float32s(fake_provider):
    floats = embed(fake_provider).json()["data"][0]["embedding"]
    encoded = embed(fake_provider, encoding_format="base64").json()
    packed = base64.b64decode(encoded["data"][0]["embedding"])
    assert struct.unpack(f"<{len(floats)}f", packed) == pytest.approx(floats)


def test_embeddings_without_usage_and_failures(fake_provider):
    assert "usage" not in embed(fake_provider, model="fake-no-usage").json()
    assert embed(fake_provider, model="fake-fail-500").status_code == 500
