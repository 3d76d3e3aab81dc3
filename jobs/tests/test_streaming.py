from __future__ import annotations

from http import HTTPStatus

from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import call_body, sse_events


def stream(stream_post, job_id, **overrides):
    return stream_post(f"/api/jobs/{job_id}/llm-call-stream", call_body(**overrides))


def test_a_stream_sends_chunks_under_the_alias_then_usage_then_done(
    stream_post, job_id
):
    response = stream(stream_post, job_id)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = sse_events(response.raw)
    chunks, usage, done = events[:-2], events[-2], events[-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Echo: hello world"
    assert {c["model"] for c in chunks} == {"chat"}
    assert usage["usage"]["total_tokens"] > 0
    assert done == "[DONE]"


def test_a_stream_is_recorded_with_the_providers_usage(stream_post, job_id):
    events = sse_events(stream(stream_post, job_id).raw)
    call = LLMCall.objects.get(call_id=events[-2]["call_id"])
    assert call.status == CallStatus.SUCCEEDED
    assert call.streamed
    assert call.total_tokens == events[-2]["usage"]["total_tokens"]


def test_the_provider_is_asked_for_usage_in_the_stream(
    stream_post, job_id, fake_provider
):
    stream(stream_post, job_id)
    sent = fake_provider.state.requests[-1]["body"]
    assert sent["stream_options"] == {"include_usage": True}


def test_a_stream_that_breaks_midway_ends_with_an_error_frame(
    stream_post, job_id, make_alias
):
    make_alias("broken", "fake-break-stream")
    events = sse_events(stream(stream_post, job_id, model="broken").raw)
    assert events[-2] == {
        "error": {"message": "LLM call failed", "type": "provider_error"}
    }
    assert events[-1] == "[DONE]"
    assert LLMCall.objects.get().status == CallStatus.FAILED


def test_a_provider_error_before_the_first_byte_is_a_json_502(
    stream_post, job_id, make_alias
):
    make_alias("down", "fake-fail-500")
    response = stream(stream_post, job_id, model="down")
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert response.json() == {
        "detail": "LLM call failed",
        "code": "provider_error",
        "request_id": response["X-Request-Id"],
    }
    assert LLMCall.objects.get().status == CallStatus.FAILED


def test_a_stream_carries_tool_calls(stream_post, job_id):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    events = sse_events(stream(stream_post, job_id, tools=tools).raw)
    calls = events[0]["choices"][0]["delta"]["tool_calls"]
    assert calls[0]["function"]["name"] == "lookup"
