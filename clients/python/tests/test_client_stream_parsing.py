"""How the client reads the server-sent events of a stream (API.md's frame format).

The live tests cover a real stream; these feed exact byte sequences through
httpx.MockTransport to pin down the cases a healthy server rarely produces.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from saas_litellm_client import (
    APIConnectionError,
    ModelAccessDeniedError,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    StreamChunk,
    StreamError,
    StreamUsage,
    UnexpectedResponseError,
)

pytestmark = pytest.mark.anyio

JOB_ID = str(uuid.uuid4())
KEY = "sk-" + "0" * 32
CALL_ID = str(uuid.uuid4())
MESSAGES = [{"role": "user", "content": "hi"}]


def chunk(content: str, finish_reason: str | None = None) -> str:
    frame = {
        "object": "chat.completion.chunk",
        "model": "chat",
        "choices": [
            {"index": 0, "delta": {"content": content}, "finish_reason": finish_reason}
        ],
    }
    return f"data: {json.dumps(frame)}\n\n"


USAGE = "data: " + json.dumps(
    {
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "call_id": CALL_ID,
    }
)
DONE = "data: [DONE]\n\n"


def events_response(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "text/event-stream"}
    )


def client_for(response: httpx.Response) -> SaasLiteLLMClient:
    transport = httpx.MockTransport(lambda request: response)
    return SaasLiteLLMClient(
        "http://server",
        "acme-corp",
        KEY,
        http_client=httpx.AsyncClient(transport=transport),
    )


async def collect(response: httpx.Response) -> list:
    client = client_for(response)
    return [event async for event in client.chat_stream(JOB_ID, "chat", MESSAGES)]


async def test_chunks_then_usage_are_yielded_in_order():
    body = chunk("Hel") + ": keep-alive\n\n" + chunk("lo", "stop") + USAGE + "\n\n"
    events = await collect(events_response(body + DONE))
    assert [type(e) for e in events] == [StreamChunk, StreamChunk, StreamUsage]
    assert [e.content for e in events[:2]] == ["Hel", "lo"]
    assert events[1].finish_reason == "stop"
    assert events[2].call_id == CALL_ID
    assert events[2].usage.total_tokens == 5


async def test_the_stream_object_assembles_the_answer():
    body = chunk("Hel") + chunk("lo", "stop") + USAGE + "\n\n" + DONE
    client = client_for(events_response(body))
    async with client.chat_stream(JOB_ID, "chat", MESSAGES) as stream:
        async for _ in stream:
            pass
    assert stream.content == "Hello"
    assert stream.finish_reason == "stop"
    assert stream.call_id == CALL_ID


async def test_an_error_frame_raises_a_stream_error_after_the_chunks_before_it():
    error = {"error": {"message": "LLM call failed", "type": "provider_error"}}
    body = chunk("Hel") + f"data: {json.dumps(error)}\n\n" + DONE
    stream = client_for(events_response(body)).chat_stream(JOB_ID, "chat", MESSAGES)
    events = aiter(stream)
    first = await anext(events)
    with pytest.raises(StreamError) as caught:
        await anext(events)
    assert first.content == "Hel"
    assert stream.content == "Hel"
    assert caught.value.error_type == "provider_error"
    assert caught.value.detail == "LLM call failed"


async def test_a_stream_cut_before_done_is_a_connection_error():
    with pytest.raises(APIConnectionError, match="before"):
        await collect(events_response(chunk("Hel")))


async def test_an_error_before_the_stream_is_a_typed_json_error():
    denied = httpx.Response(
        403,
        json={
            "detail": "Team does not have access to the requested model",
            "code": "model_access_denied",
        },
    )
    with pytest.raises(ModelAccessDeniedError):
        await collect(denied)


async def test_a_success_that_is_not_an_event_stream_is_unexpected():
    with pytest.raises(UnexpectedResponseError):
        await collect(httpx.Response(200, json={"ok": True}))


async def test_a_data_field_split_over_lines_is_joined():
    frame = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
    text = json.dumps(frame, indent=1).replace("\n", "\ndata: ")
    events = await collect(events_response(f"data: {text}\n\n{DONE}"))
    assert [e.content for e in events] == ["x"]


async def test_a_stream_can_be_iterated_only_once():
    stream = client_for(events_response(DONE)).chat_stream(JOB_ID, "chat", MESSAGES)
    assert [e async for e in stream] == []
    with pytest.raises(RuntimeError):
        stream.__aiter__()


def test_the_sync_stream_reads_the_same_frames():
    body = chunk("Hel") + chunk("lo", "stop") + USAGE + "\n\n" + DONE
    transport = httpx.MockTransport(lambda request: events_response(body))
    client = SaasLiteLLMSyncClient(
        "http://server", "acme-corp", KEY, http_client=httpx.Client(transport=transport)
    )
    with client.chat_stream(JOB_ID, "chat", MESSAGES) as stream:
        events = list(stream)
    assert isinstance(events[-1], StreamUsage)
    assert stream.content == "Hello"


def test_the_stream_request_asks_for_an_event_stream():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return events_response(DONE)

    transport = httpx.MockTransport(handler)
    client = SaasLiteLLMSyncClient(
        "http://server", "acme-corp", KEY, http_client=httpx.Client(transport=transport)
    )
    list(client.chat_stream(JOB_ID, "chat", MESSAGES, temperature=0.2))
    assert seen[0].url.path == f"/api/jobs/{JOB_ID}/llm-call-stream"
    assert seen[0].headers["accept"] == "text/event-stream"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(seen[0].content) == {
        "model": "chat",
        "messages": MESSAGES,
        "temperature": 0.2,
    }
