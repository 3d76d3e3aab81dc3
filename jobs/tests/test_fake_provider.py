"""The fake provider itself: OpenAI's format, per-request behaviour, counting."""

from __future__ import annotations

import json

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
