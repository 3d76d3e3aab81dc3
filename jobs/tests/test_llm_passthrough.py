"""The fast path (jobs/fastpath.py): OpenAI-compatible routes skip litellm.

Each test drives the real code against the session's fake provider; the fake keeps
every request (path, headers, body), so a test can tell which path sent it: only the
pass-through sends `PASSTHROUGH_USER_AGENT`.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import litellm
import pytest

from jobs import fastpath, gateway, pricing
from jobs.models import LLMCall
from jobs.routing import Attempts, Route
from jobs.tests.conftest import llm_call
from saas_litellm.exceptions import ProviderError, ProviderTimeout

HELLO = gateway.CallParams(messages=[{"role": "user", "content": "hello there friend"}])
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(autouse=True)
def _no_retries(settings):
    """One attempt per route: these compare the two paths' readings of each
    answer; retries are jobs/tests/test_routing.py's."""
    settings.ROUTER_RETRIES = 0


def route(provider: Any, model: str = "openai/fake-echo", **fields: Any) -> Route:
    fields.setdefault("api_base", provider.api_base)
    fields.setdefault("api_key", "sk-fake-provider-secret")
    return Route(alias="a", model=model, **fields)


def run(params: gateway.CallParams, *routes: Route) -> gateway.Completion:
    return asyncio.run(
        gateway.completion_run(attempts=Attempts.in_order(list(routes)), params=params)
    )


def streamed(
    params: gateway.CallParams, *routes: Route
) -> tuple[list[dict[str, Any]], gateway.Completion]:
    async def read() -> tuple[list[dict[str, Any]], gateway.Completion]:
        stream = await gateway.completion_stream_open(
            attempts=Attempts.in_order(list(routes)), params=params
        )
        try:
            frames = [frame async for frame in stream.frames()]
        finally:
            await stream.close()
        return frames, stream.completion()

    return asyncio.run(read())


def last_request(provider: Any) -> dict[str, Any]:
    return provider.state.requests[-1]


def without_ids(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in frame.items() if k not in ("id", "created")}
        for frame in frames
    ]


def test_an_openai_route_with_an_api_base_and_a_key_is_passed_through(fake_provider):
    assert fastpath.route_is_passthrough(route(fake_provider))


@pytest.mark.parametrize(
    "fields",
    [
        {"mock_response": "offline"},
        {"api_base": None},
        {"api_key": None},
        {"model": "anthropic/claude-3-5-sonnet-20240620"},
        {"model": "gemini/gemini-1.5-pro"},
        {"model": "azure/gpt-4o"},
        {"model": "openai/o3-mini"},
        {"model": "openai/gpt-5-mini"},
        {"model": "custom_openai/fake-echo"},
    ],
)
def test_other_routes_stay_on_litellm(fake_provider, fields):
    assert not fastpath.route_is_passthrough(route(fake_provider, **fields))


def test_a_completion_goes_to_the_provider_without_litellm(fake_provider):
    before = fake_provider.request_count
    completion = run(HELLO, route(fake_provider))
    assert completion.content == "Echo: hello there friend"
    assert completion.finish_reason == "stop"
    assert fake_provider.request_count == before + 1
    request = last_request(fake_provider)
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["user-agent"] == fastpath.PASSTHROUGH_USER_AGENT
    assert request["headers"]["authorization"] == "Bearer sk-fake-provider-secret"
    assert request["body"] == {
        "model": "fake-echo",
        "messages": HELLO.messages,
    }


def test_a_stream_asks_for_usage_and_is_passed_through(fake_provider):
    frames, completion = streamed(HELLO, route(fake_provider))
    request = last_request(fake_provider)
    assert request["headers"]["user-agent"] == fastpath.PASSTHROUGH_USER_AGENT
    assert request["body"]["stream"] is True
    assert request["body"]["stream_options"] == {"include_usage": True}
    assert "".join(f["choices"][0]["delta"].get("content", "") for f in frames) == (
        "Echo: hello there friend"
    )
    assert (completion.prompt_tokens, completion.completion_tokens) == (5, 4)


def test_an_api_call_on_an_openai_alias_takes_the_pass_through(
    team_client, job_id, fake_provider
):
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["response"]["content"] == "Echo: hello world"
    assert last_request(fake_provider)["headers"]["user-agent"] == (
        fastpath.PASSTHROUGH_USER_AGENT
    )


def test_a_mock_response_alias_still_answers_through_litellm(fake_provider):
    before = fake_provider.request_count
    completion = run(HELLO, route(fake_provider, mock_response="offline answer"))
    assert completion.content == "offline answer"
    assert fake_provider.request_count == before


def test_a_non_openai_provider_is_still_called_through_litellm(fake_provider):
    anthropic = route(fake_provider, model="anthropic/claude-3-5-sonnet-20240620")
    before = fake_provider.request_count
    with pytest.raises(ProviderError):
        run(HELLO, anthropic)
    assert fake_provider.request_count == before + 1
    request = last_request(fake_provider)
    assert request["path"] not in ("/v1/chat/completions", "/chat/completions")
    assert request["headers"].get("user-agent") != fastpath.PASSTHROUGH_USER_AGENT


def test_tool_calls_come_back_through_the_pass_through(fake_provider):
    params = gateway.CallParams(
        messages=HELLO.messages, tools=TOOLS, tool_choice="auto"
    )
    completion = run(params, route(fake_provider))
    assert last_request(fake_provider)["body"]["tools"] == TOOLS
    assert completion.finish_reason == "tool_calls"
    assert completion.content is None
    assert completion.tool_calls == [
        {
            "id": "call_fake_1",
            "type": "function",
            "function": {
                "name": "lookup",
                "arguments": '{"input": "hello there friend"}',
            },
        }
    ]


def test_streamed_tool_calls_are_gathered_like_litellms(fake_provider):
    params = gateway.CallParams(messages=HELLO.messages, tools=TOOLS)
    fast_frames, fast = streamed(params, route(fake_provider))
    # o3-mini is kept on litellm; the fake provider answers it like fake-echo.
    slow_frames, slow = streamed(params, route(fake_provider, model="openai/o3-mini"))
    assert fast.tool_calls == slow.tool_calls
    assert fast.tool_calls[0]["function"]["name"] == "lookup"
    assert fast.finish_reason == slow.finish_reason == "tool_calls"
    assert without_ids(fast_frames) == without_ids(slow_frames)


def test_a_text_stream_yields_the_same_frames_as_litellm(fake_provider):
    fast_frames, fast = streamed(HELLO, route(fake_provider))
    slow_frames, slow = streamed(HELLO, route(fake_provider, model="openai/o3-mini"))
    assert last_request(fake_provider)["headers"]["user-agent"] != (
        fastpath.PASSTHROUGH_USER_AGENT
    )
    assert without_ids(fast_frames) == without_ids(slow_frames)
    assert (fast.content, fast.finish_reason) == (slow.content, slow.finish_reason)
    assert (fast.prompt_tokens, fast.completion_tokens) == (
        slow.prompt_tokens,
        slow.completion_tokens,
    )


def test_a_json_response_format_is_sent_and_answered(fake_provider):
    params = gateway.CallParams(messages=HELLO.messages, response_format=SCHEMA)
    completion = run(params, route(fake_provider))
    assert last_request(fake_provider)["body"]["response_format"] == SCHEMA
    assert completion.content == '{"city": "hello there friend"}'


def test_usage_and_cost_equal_what_litellm_computes_for_the_same_call(fake_provider):
    # gpt-4o-mini is in litellm's price table; the fake provider echoes for it.
    priced = route(fake_provider, model="openai/gpt-4o-mini")
    completion = run(HELLO, priced)
    response = litellm.completion(
        model=priced.model,
        messages=HELLO.messages,
        api_base=priced.api_base,
        api_key=priced.api_key,
    )
    assert completion.prompt_tokens == response.usage.prompt_tokens
    assert completion.completion_tokens == response.usage.completion_tokens
    prompt_cost, completion_cost = litellm.cost_per_token(
        model=priced.model,
        prompt_tokens=response.usage.prompt_tokens,
        completion_tokens=response.usage.completion_tokens,
    )
    expected = Decimal(str(prompt_cost)) + Decimal(str(completion_cost))
    assert expected > 0
    assert pricing.completion_cost_usd(completion) == expected


def test_a_streams_usage_and_cost_equal_litellms(fake_provider):
    priced = route(fake_provider, model="openai/gpt-4o-mini")
    _, fast = streamed(HELLO, priced)

    async def through_litellm() -> Any:
        chunks = await litellm.acompletion(
            model=priced.model,
            messages=HELLO.messages,
            api_base=priced.api_base,
            api_key=priced.api_key,
            stream=True,
            stream_options={"include_usage": True},
        )
        return [chunk async for chunk in chunks if getattr(chunk, "usage", None)][-1]

    usage = asyncio.run(through_litellm()).usage
    assert (fast.prompt_tokens, fast.completion_tokens) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert pricing.completion_cost_usd(fast) == pricing.call_cost_usd(
        route=priced,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
    )
    assert pricing.completion_cost_usd(fast) > 0


@pytest.mark.parametrize(
    ("behaviour", "described"),
    [
        ("fake-fail-429", "RateLimitError status=429 (alias a)"),
        ("fake-fail-500", "InternalServerError status=500 (alias a)"),
        ("fake-fail-400", "BadRequestError status=400 (alias a)"),
        ("fake-fail-401", "AuthenticationError status=401 (alias a)"),
    ],
)
def test_provider_errors_are_described_as_litellm_describes_them(
    fake_provider, behaviour, described
):
    with pytest.raises(ProviderError) as failed:
        run(HELLO, route(fake_provider, model=f"openai/{behaviour}"))
    assert failed.value.internal == described
    assert "fake" not in failed.value.detail


def test_a_timeout_is_a_provider_timeout(fake_provider):
    fake_provider.state.behaviour.timeout_sleep = 1.5
    with pytest.raises(ProviderTimeout) as failed:
        run(HELLO, route(fake_provider, model="openai/fake-timeout"))
    assert failed.value.internal == "Timeout status=408 (alias a)"


def test_a_refused_connection_falls_back_to_the_next_route(fake_provider):
    closed = route(fake_provider, api_base="http://127.0.0.1:9/v1")
    completion = run(HELLO, closed, route(fake_provider))
    assert completion.content == "Echo: hello there friend"


def test_a_bad_request_does_not_fall_back(fake_provider):
    before = fake_provider.request_count
    with pytest.raises(ProviderError):
        run(
            HELLO,
            route(fake_provider, model="openai/fake-fail-400"),
            route(fake_provider),
        )
    assert fake_provider.request_count == before + 1


def test_a_stream_broken_mid_way_fails_as_litellms_did(fake_provider):
    async def read() -> tuple[list[dict[str, Any]], Exception]:
        broken = route(fake_provider, model="openai/fake-break-stream")
        stream = await gateway.completion_stream_open(
            attempts=Attempts.in_order([broken]), params=HELLO
        )
        frames: list[dict[str, Any]] = []
        try:
            async for frame in stream.frames():
                frames.append(frame)
        except Exception as exc:
            return frames, gateway.stream_failure(exc, broken)
        finally:
            await stream.close()
        raise AssertionError("the stream did not break")

    frames, failure = asyncio.run(read())
    assert len(frames) == 2
    assert failure.internal == "MidStreamFallbackError status=500 (alias a)"


def test_every_event_loop_gets_a_working_client(fake_provider):
    assert run(HELLO, route(fake_provider)).content == "Echo: hello there friend"
    assert run(HELLO, route(fake_provider)).content == "Echo: hello there friend"


@pytest.mark.django_db
def test_an_api_stream_through_the_pass_through_is_recorded_with_its_usage(
    stream_post, job_id, fake_provider
):
    response = stream_post(
        f"/api/jobs/{job_id}/llm-call-stream",
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == HTTPStatus.OK
    assert last_request(fake_provider)["headers"]["user-agent"] == (
        fastpath.PASSTHROUGH_USER_AGENT
    )
    call = LLMCall.objects.get()
    assert (call.prompt_tokens, call.completion_tokens) == (1, 2)


def test_a_stream_that_stalls_mid_way_times_out(fake_provider):
    fake_provider.state.behaviour.chunks = 2
    fake_provider.state.behaviour.chunk_delay = 1.3

    async def read() -> tuple[int, ProviderError]:
        stream = await gateway.completion_stream_open(
            attempts=Attempts.in_order([route(fake_provider)]), params=HELLO
        )
        frames = 0
        try:
            async for _ in stream.frames():
                frames += 1
        except Exception as exc:
            return frames, gateway.stream_failure(exc, stream.route)
        finally:
            await stream.close()
        raise AssertionError("the stream did not time out")

    frames, failure = asyncio.run(read())
    assert frames == 1
    assert isinstance(failure, ProviderTimeout)
    assert failure.internal == "TimeoutError (alias a)"


# --- Provider faults: the same outcome on both paths ----------------------------------
# `custom_openai/<behaviour>` is litellm's own OpenAI handler, on the fake provider's
# behaviour named like the fast path's `openai/<behaviour>`.

FAULTS = [
    "fake-echo",
    "fake-no-usage",
    "fake-usage-huge",
    "fake-usage-negative",
    "fake-usage-string",
    "fake-bad-chunks",
    "fake-bad-first-chunk",
    "fake-empty",
    "fake-filtered",
]


def both_paths(provider: Any, behaviour: str) -> tuple[Route, Route]:
    fast = route(provider, model=f"openai/{behaviour}")
    slow = route(provider, model=f"custom_openai/{behaviour}")
    assert fastpath.route_is_passthrough(fast)
    assert not fastpath.route_is_passthrough(slow)
    return fast, slow


def outcome(completion: gateway.Completion) -> tuple[Any, ...]:
    return (
        completion.content,
        completion.finish_reason,
        completion.tool_calls,
        completion.prompt_tokens,
        completion.completion_tokens,
        completion.usage_reported,
    )


def run_outcome(params: gateway.CallParams, *routes: Route) -> tuple[Any, ...]:
    try:
        return outcome(run(params, *routes))
    except ProviderError as failed:
        return type(failed).__name__, failed.internal


def stream_outcome(
    params: gateway.CallParams, *routes: Route
) -> tuple[list[dict[str, Any]], tuple[Any, ...]]:
    """The frames and the completion, or the failure and the frames before it."""

    async def read() -> tuple[list[dict[str, Any]], tuple[Any, ...]]:
        try:
            stream = await gateway.completion_stream_open(
                attempts=Attempts.in_order(list(routes)), params=params
            )
        except ProviderError as failed:
            return [], ("at open", type(failed).__name__, failed.internal)
        frames: list[dict[str, Any]] = []
        try:
            async for frame in stream.frames():
                frames.append(frame)
        except Exception as exc:
            failure = gateway.stream_failure(exc, stream.route)
            return frames, ("mid-stream", type(failure).__name__, failure.internal)
        finally:
            await stream.close()
        return frames, outcome(stream.completion())

    frames, result = asyncio.run(read())
    return without_ids(frames), result


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("behaviour", FAULTS)
def test_a_provider_fault_has_litellms_outcome(fake_provider, behaviour):
    fast, slow = both_paths(fake_provider, behaviour)
    assert run_outcome(HELLO, fast) == run_outcome(HELLO, slow)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("behaviour", FAULTS)
def test_a_streamed_provider_fault_has_litellms_frames_and_outcome(
    fake_provider, behaviour
):
    fast, slow = both_paths(fake_provider, behaviour)
    assert stream_outcome(HELLO, fast) == stream_outcome(HELLO, slow)


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("fake-echo", (5, 4, True)),
        ("fake-no-usage", (0, 0, False)),
        ("fake-usage-huge", (5_000_000_000, 4, True)),
        ("fake-usage-negative", (0, 0, False)),
    ],
)
def test_usage_is_read_alike_streamed_or_not(fake_provider, behaviour, expected):
    for path in both_paths(fake_provider, behaviour):
        assert run_outcome(HELLO, path)[3:] == expected
        assert stream_outcome(HELLO, path)[1][3:] == expected


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize(
    ("behaviour", "failure"),
    [
        ("fake-usage-string", "InternalServerError status=500 (alias a)"),
        ("fake-bad-chunks", "InternalServerError status=500 (alias a)"),
        ("fake-empty", "InternalServerError status=500 (alias a)"),
    ],
)
def test_an_unreadable_answer_is_litellms_500(fake_provider, behaviour, failure):
    for path in both_paths(fake_provider, behaviour):
        assert run_outcome(HELLO, path) == ("ProviderError", failure)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize(
    ("behaviour", "where"),
    [
        ("fake-bad-first-chunk", "at open"),
        ("fake-empty", "at open"),
        ("fake-bad-chunks", "mid-stream"),
        ("fake-usage-string", "mid-stream"),
    ],
)
def test_a_malformed_stream_is_litellms_mid_stream_500(fake_provider, behaviour, where):
    for path in both_paths(fake_provider, behaviour):
        failure = (
            where,
            "ProviderError",
            "MidStreamFallbackError status=500 (alias a)",
        )
        assert stream_outcome(HELLO, path)[1] == failure


def test_a_malformed_answer_falls_back_on_both_paths(fake_provider):
    for path in both_paths(fake_provider, "fake-bad-chunks"):
        completion = run_outcome(HELLO, path, route(fake_provider))
        assert completion[0] == "Echo: hello there friend"
    for path in both_paths(fake_provider, "fake-bad-first-chunk"):
        _, completion = stream_outcome(HELLO, path, route(fake_provider))
        assert completion[0] == "Echo: hello there friend"


def test_a_request_the_provider_refuses_is_rejected_alike(fake_provider):
    params = gateway.CallParams(
        messages=HELLO.messages,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
    )
    rejected = ("ProviderRejected", "BadRequestError status=400 (alias a)")
    for path in both_paths(fake_provider, "fake-strict"):
        before = fake_provider.request_count
        assert run_outcome(params, path, route(fake_provider)) == rejected
        assert stream_outcome(params, path, route(fake_provider))[1][1:] == rejected
        assert fake_provider.request_count == before + 2
