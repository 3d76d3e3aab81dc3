"""The Responses API's wire format as the client writes and reads it: requests,
the `event:` stream, OpenAI-shaped errors and retries.

The live tests cover a healthy server; these script exact answers through
httpx.MockTransport to pin down what a healthy server rarely produces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest
from saas_litellm_client import (
    APIConnectionError,
    AuthenticationError,
    InsufficientCreditsError,
    JobClosedError,
    ModelAccessDeniedError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    Response,
    ResponseCompleted,
    ResponseRawEvent,
    ResponseTextDelta,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    StreamError,
    TeamPausedError,
    ValidationError,
)

pytestmark = pytest.mark.anyio

KEY = "sk-" + "0" * 32
JOB_ID = str(uuid.uuid4())
CALL_ID = str(uuid.uuid4())
RESPONSE_ID = "resp_" + "a" * 48
IDS = {"X-Call-Id": CALL_ID, "X-Job-Id": JOB_ID}


def body(**changes: object) -> dict:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": 1767225600,
        "status": "completed",
        "model": "chat",
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "Hel", "annotations": []},
                    {"type": "output_text", "text": "lo", "annotations": []},
                ],
            },
            {
                "id": "fc_1",
                "type": "function_call",
                "call_id": "call_1",
                "name": "lookup",
                "arguments": '{"input": "x"}',
                "status": "completed",
            },
        ],
        "usage": {
            "input_tokens": 3,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 5,
            "credits": {"charged": 1, "remaining": 41},
        },
        **changes,
    }


def event(kind: str, number: int, **fields: object) -> str:
    payload = {"type": kind, "sequence_number": number, **fields}
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


def events_response(text: str) -> httpx.Response:
    headers = {"Content-Type": "text/event-stream", **IDS}
    return httpx.Response(200, content=text.encode(), headers=headers)


class Recorder:
    """A transport answering every request with `answer`, keeping the requests."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def async_client(recorder: Recorder, **options: object) -> SaasLiteLLMClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    return SaasLiteLLMClient(
        "http://server", "acme-corp", KEY, http_client=http, **options
    )


def sync_client(recorder: Recorder, **options: object) -> SaasLiteLLMSyncClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return SaasLiteLLMSyncClient(
        "http://server", "acme-corp", KEY, http_client=http, **options
    )


# Requests


async def test_respond_posts_the_set_options_and_reads_the_headers():
    recorder = Recorder(lambda request: httpx.Response(200, json=body(), headers=IDS))
    previous = Response.model_validate(body(id="resp_previous"))
    response = await async_client(recorder).respond(
        "chat",
        "hi",
        instructions="Be brief.",
        previous_response_id=previous,
        temperature=0.0,
        tools=[{"type": "function", "name": "lookup"}],
        store=False,
        job_id=uuid.UUID(JOB_ID),
        text={"format": {"type": "json_object"}},
        top_p=None,
    )
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/responses"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["x-job-id"] == JOB_ID
    assert json.loads(request.content) == {
        "model": "chat",
        "input": "hi",
        "instructions": "Be brief.",
        "previous_response_id": "resp_previous",
        "temperature": 0.0,
        "tools": [{"type": "function", "name": "lookup"}],
        "store": False,
        "text": {"format": {"type": "json_object"}},
    }
    assert response.output_text == "Hello"
    assert response.call_id == CALL_ID
    assert response.job_id == JOB_ID
    assert response.created_at.year == 2026
    assert response.usage.cached_tokens == 1
    assert response.usage.reasoning_tokens == 1
    assert response.credits.charged == 1
    assert response.credits.remaining == 41
    [call] = response.function_calls
    assert (call.call_id, call.name, call.arguments) == (
        "call_1",
        "lookup",
        '{"input": "x"}',
    )


def test_a_call_without_a_job_sends_no_job_header():
    recorder = Recorder(lambda request: httpx.Response(200, json=body()))
    response = sync_client(recorder).respond("chat", [{"role": "user", "content": "x"}])
    assert "x-job-id" not in recorder.requests[0].headers
    assert json.loads(recorder.requests[0].content)["input"] == [
        {"role": "user", "content": "x"}
    ]
    assert response.call_id is None


def test_arguments_are_checked_before_anything_is_sent():
    recorder = Recorder(lambda request: httpx.Response(200, json=body()))
    client = sync_client(recorder)
    with pytest.raises(ValueError, match="job_id"):
        client.respond("chat", "hi", job_id="job-1")
    with pytest.raises(TypeError, match="respond_stream"):
        client.respond("chat", "hi", stream=True)
    with pytest.raises(ValueError, match="response_id"):
        client.get_response("")
    assert recorder.requests == []


def test_get_and_delete_name_the_response_in_the_path():
    deleted = {"id": "resp_a/b", "object": "response", "deleted": True}
    recorder = Recorder(
        lambda request: httpx.Response(
            200, json=deleted if request.method == "DELETE" else body()
        )
    )
    client = sync_client(recorder)
    client.get_response(RESPONSE_ID)
    assert client.delete_response("resp_a/b").deleted is True
    assert [(r.method, r.url.raw_path) for r in recorder.requests] == [
        ("GET", f"/v1/responses/{RESPONSE_ID}".encode()),
        ("DELETE", b"/v1/responses/resp_a%2Fb"),
    ]


# The stream


def opening() -> str:
    shell = body(status="in_progress", output=[], usage=None)
    return event("response.created", 0, response=shell) + event(
        "response.in_progress", 1, response=shell
    )


def delta(text: str, number: int) -> str:
    return event(
        "response.output_text.delta",
        number,
        item_id="msg_1",
        output_index=0,
        content_index=0,
        delta=text,
        logprobs=[],
    )


async def test_a_stream_yields_typed_and_raw_events_then_the_response():
    text = (
        ": keep-alive\n\n"
        + opening()
        + delta("Hel", 2)
        + delta("lo", 3)
        + event("response.output_text.done", 4, text="Hello")
        + event("response.completed", 5, response=body())
    )
    recorder = Recorder(lambda request: events_response(text))
    async with async_client(recorder).respond_stream("chat", "hi") as stream:
        events = [item async for item in stream]
    request = recorder.requests[0]
    assert json.loads(request.content) == {
        "model": "chat",
        "input": "hi",
        "stream": True,
    }
    assert request.headers["accept"] == "text/event-stream"
    assert [type(item) for item in events] == [
        ResponseRawEvent,
        ResponseRawEvent,
        ResponseTextDelta,
        ResponseTextDelta,
        ResponseRawEvent,
        ResponseCompleted,
    ]
    assert events[4].type == "response.output_text.done"
    assert events[4].data["text"] == "Hello"
    assert [item.delta for item in events[2:4]] == ["Hel", "lo"]
    assert events[-1].response.call_id == CALL_ID
    assert events[-1].response.job_id == JOB_ID
    assert events[-1].credits.remaining == 41
    assert stream.response_id == RESPONSE_ID
    assert stream.output_text == "Hello"


def test_an_incomplete_response_ends_the_stream_too():
    incomplete = body(
        status="incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    text = (
        opening()
        + delta("Hel", 2)
        + event("response.incomplete", 3, response=incomplete)
    )
    recorder = Recorder(lambda request: events_response(text))
    with sync_client(recorder).respond_stream("chat", "hi") as stream:
        last = list(stream)[-1]
    assert isinstance(last, ResponseCompleted)
    assert last.type == "response.incomplete"
    assert stream.response.incomplete_details == {"reason": "max_output_tokens"}


async def test_a_failed_response_raises_a_stream_error_after_its_deltas():
    failed = body(
        status="failed",
        output=[],
        usage=None,
        error={"code": "provider_error", "message": "LLM call failed"},
    )
    text = opening() + delta("Hel", 2) + event("response.failed", 3, response=failed)
    recorder = Recorder(lambda request: events_response(text))
    stream = async_client(recorder).respond_stream("chat", "hi")
    with pytest.raises(StreamError) as caught:
        _ = [item async for item in stream]
    assert caught.value.error_type == "provider_error"
    assert caught.value.detail == "LLM call failed"
    assert stream.output_text == "Hel"
    assert stream.response is None


def test_an_error_event_raises_a_stream_error():
    text = opening() + event("error", 2, code="server_error", message="Boom")
    recorder = Recorder(lambda request: events_response(text))
    with pytest.raises(StreamError) as caught:
        list(sync_client(recorder).respond_stream("chat", "hi"))
    assert caught.value.error_type == "server_error"
    assert caught.value.detail == "Boom"


async def test_a_stream_cut_before_the_completed_event_is_a_connection_error():
    recorder = Recorder(lambda request: events_response(opening() + delta("He", 2)))
    with pytest.raises(APIConnectionError, match=r"before response\.completed"):
        _ = [item async for item in async_client(recorder).respond_stream("c", "x")]


# Errors: the /v1 endpoints answer OpenAI's shape


def openai_error(
    status: int, code: str | None, param: str | None = None, **headers: str
) -> httpx.Response:
    error = {"message": "Nope", "type": "some_error", "param": param, "code": code}
    return httpx.Response(status, json={"error": error}, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (401, "invalid_api_key", AuthenticationError),
        (403, "insufficient_credits", InsufficientCreditsError),
        (403, "model_access_denied", ModelAccessDeniedError),
        (404, "not_found", NotFoundError),
        (409, "job_closed", JobClosedError),
        (429, "rate_limited", RateLimitError),
        (502, "provider_error", ProviderError),
    ],
)
def test_openai_shaped_errors_map_to_the_same_classes(status, code, error_class):
    recorder = Recorder(
        lambda request: openai_error(status, code, **{"Retry-After": "7"})
    )
    with pytest.raises(error_class) as caught:
        sync_client(recorder, max_retries=0).respond("chat", "hi")
    assert caught.value.status_code == status
    assert caught.value.code == code
    assert caught.value.detail == "Nope"
    assert caught.value.body["error"]["type"] == "some_error"


def test_an_invalid_request_keeps_the_parameter_it_names():
    recorder = Recorder(lambda request: openai_error(400, "invalid_request", "tools"))
    with pytest.raises(ValidationError) as caught:
        sync_client(recorder).respond("chat", "hi")
    assert caught.value.code == "invalid_request"
    assert caught.value.errors == {"tools": ["Nope"]}


def test_a_rate_limit_keeps_its_retry_after():
    recorder = Recorder(
        lambda request: openai_error(429, "rate_limited", **{"Retry-After": "90"})
    )
    with pytest.raises(RateLimitError) as caught:
        sync_client(recorder).respond("chat", "hi")
    assert caught.value.retry_after == 90
    assert len(recorder.requests) == 1  # longer than max_retry_after: raised at once


# Retries: a respond POST may have run (and been billed); GET and DELETE not


def test_respond_is_not_retried_once_the_server_may_have_run_it():
    recorder = Recorder(lambda request: openai_error(502, "provider_error"))
    client = sync_client(recorder, retry_backoff=0.0)
    with pytest.raises(ProviderError):
        client.respond("chat", "hi")
    with pytest.raises(ProviderError):
        list(client.respond_stream("chat", "hi"))
    assert len(recorder.requests) == 2


def test_respond_is_retried_when_the_server_refused_it_before_any_work():
    answers = [
        openai_error(503, "database_unavailable"),
        httpx.Response(200, json=body()),
    ]
    recorder = Recorder(lambda request: answers.pop(0))
    response = sync_client(recorder, retry_backoff=0.0).respond("chat", "hi")
    assert response.id == RESPONSE_ID
    assert len(recorder.requests) == 2


@pytest.mark.parametrize("method", ["get_response", "delete_response"])
def test_reads_and_deletes_are_retried_after_a_bad_gateway(method):
    deleted = {"id": RESPONSE_ID, "deleted": True}
    answers = [
        openai_error(502, None),
        httpx.Response(200, json=deleted if method == "delete_response" else body()),
    ]
    recorder = Recorder(lambda request: answers.pop(0))
    result = getattr(sync_client(recorder, retry_backoff=0.0), method)(RESPONSE_ID)
    assert result.id == RESPONSE_ID
    assert len(recorder.requests) == 2


def test_a_native_error_body_is_still_read_as_before():
    native = httpx.Response(403, json={"detail": "No", "code": "team_paused"})
    recorder = Recorder(lambda request: native)
    with pytest.raises(TeamPausedError) as caught:
        sync_client(recorder).respond("chat", "hi")
    assert (caught.value.detail, caught.value.code) == ("No", "team_paused")
