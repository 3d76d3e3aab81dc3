"""Provider faults answered, recorded and billed alike on the fast path and litellm's.

Every test runs on both paths against the fake provider: an alias of
`openai/<behaviour>` takes the fast path (jobs.fastpath), one of
`custom_openai/<behaviour>` litellm's OpenAI handler. The call goes through the HTTP
API, on a job (`/api/jobs/{id}/llm-call[-stream]`, charged when the job is completed)
or as a one-call job (`/v1/chat/completions`, charged when the call is recorded); the
team pays a credit per token, so the charge is the tokens billed.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest

from credits.models import CreditHold, HoldStatus
from credits.services import credit_add
from jobs import fastpath, pricing
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import account, complete, sse_events
from saas_litellm.exceptions import Dialect, ProviderError, error_body
from teams.models import BudgetMode

ROUTES = {"fast": "openai", "litellm": "custom_openai"}
ENDPOINTS = {
    "native": ("/api/jobs/{job_id}/llm-call", False),
    "native-stream": ("/api/jobs/{job_id}/llm-call-stream", True),
    "v1": ("/v1/chat/completions", False),
    "v1-stream": ("/v1/chat/completions", True),
}
STREAMED = ["native-stream", "v1-stream"]
NOT_STREAMED = ["native", "v1"]
MESSAGES = [{"role": "user", "content": "hello world"}]
ERROR_FRAMES = {
    "native-stream": {
        "error": {"message": "LLM call failed", "type": "provider_error"}
    },
    "v1-stream": error_body(ProviderError(), Dialect.OPENAI),
}


def without_request_id(event: Any) -> Any:
    """An error event as the module builds it: the request's id taken out."""
    if isinstance(event, dict) and isinstance(event.get("error"), dict):
        error = {k: v for k, v in event["error"].items() if k != "request_id"}
        return {**event, "error": error}
    return event


@pytest.fixture(params=sorted(ROUTES))
def path(request) -> str:
    return request.param


@pytest.fixture
def fault(make_alias, chat_alias, team, path):
    """An alias named after the fake provider's `behaviour`, on the test's path; the
    team pays a credit per token (and has enough for an image's worst case)."""
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    credit_add(team=team, credits=10_000, actor="tests")

    def make(behaviour: str, **fields: Any) -> str:
        alias = make_alias(behaviour, behaviour, **fields)
        alias.actual_model = f"{ROUTES[path]}/{behaviour}"
        alias.save()
        return behaviour

    return make


@pytest.fixture
def send(stream_post, team_client, team, fake_provider, path):
    """POST a call to an endpoint (a job is opened for the native ones); checks that
    the provider was asked by the test's path."""

    def post(endpoint: str, model: str, **body: Any) -> Any:
        url, stream = ENDPOINTS[endpoint]
        if "{job_id}" in url:
            job = team_client.post(
                "/api/jobs/create",
                {"team_id": team.team_id, "job_type": "faults"},
                format="json",
            )
            url = url.format(job_id=job.json()["job_id"])
        elif stream:
            body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        before = fake_provider.request_count
        response = stream_post(
            url, {"model": model, "messages": MESSAGES, "max_tokens": 20, **body}
        )
        agent = fake_provider.state.requests[before]["headers"].get("user-agent")
        assert (agent == fastpath.PASSTHROUGH_USER_AGENT) == (path == "fast")
        return response

    return post


def closed(team_client) -> tuple[LLMCall, Job]:
    """The call and its job, closed: a one-call job closes itself, a job the team
    opened is completed here, as its client would."""
    call = LLMCall.objects.get()
    if call.job.job_type == "faults":
        complete(team_client, call.job.job_id)
    return call, Job.objects.get(pk=call.job_id)


def assert_charged(team, job: Job, credits: int) -> None:
    assert job.credits_charged == credits
    balance = account(team)
    assert (balance.credits_used, balance.credits_reserved) == (credits, 0)
    assert balance.credits_remaining == 10_100 - credits
    assert not CreditHold.objects.filter(status=HoldStatus.OPEN).exists()


def assert_failed_uncharged(team, team_client) -> None:
    call, job = closed(team_client)
    assert call.status == CallStatus.FAILED
    assert call.total_tokens == 0
    assert job.status in (JobStatus.FAILED, JobStatus.COMPLETED)
    assert_charged(team, job, 0)


def usage_frame(events: list[Any]) -> dict[str, Any]:
    return events[-2]["usage"]


# --- Malformed answers ----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", STREAMED)
def test_malformed_chunks_after_the_first_fail_the_stream_uncharged(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-bad-chunks"))
    assert response.status_code == HTTPStatus.OK
    events = sse_events(response.raw)
    assert events[0]["choices"][0]["delta"]["content"]
    assert [without_request_id(events[-2]), events[-1]] == [
        ERROR_FRAMES[endpoint],
        "[DONE]",
    ]
    assert_failed_uncharged(team, team_client)


@pytest.mark.parametrize("endpoint", STREAMED)
def test_a_malformed_first_chunk_is_a_502(send, fault, team, team_client, endpoint):
    response = send(endpoint, fault("fake-bad-first-chunk"))
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    dialect = Dialect.NATIVE if endpoint.startswith("native") else Dialect.OPENAI
    assert response.json() == error_body(ProviderError(), dialect)
    assert_failed_uncharged(team, team_client)


@pytest.mark.parametrize("endpoint", NOT_STREAMED)
def test_an_answer_that_is_not_json_is_a_502(send, fault, team, team_client, endpoint):
    response = send(endpoint, fault("fake-bad-chunks"))
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert_failed_uncharged(team, team_client)


@pytest.mark.parametrize(
    ("behaviour", "endpoint"),
    [("fake-bad-first-chunk", "v1-stream"), ("fake-bad-chunks", "v1")],
)
def test_a_malformed_answer_falls_back_to_the_next_alias(
    send, fault, fake_provider, behaviour, endpoint
):
    model = fault(behaviour, fallbacks=["chat"])
    before = fake_provider.request_count
    assert send(endpoint, model).status_code == HTTPStatus.OK
    # The alias, retried once (ROUTER_RETRIES), then its fallback.
    assert fake_provider.request_count == before + 3
    assert LLMCall.objects.get().model_used == "openai/fake-echo"


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_an_answer_with_nothing_in_it_is_a_502(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-empty"))
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert_failed_uncharged(team, team_client)


@pytest.mark.parametrize("endpoint", STREAMED)
def test_an_empty_answer_that_says_why_is_a_success(
    send, fault, team, team_client, endpoint
):
    events = sse_events(send(endpoint, fault("fake-filtered")).raw)
    finish = [c["choices"][0].get("finish_reason") for c in events[:-2]]
    assert "content_filter" in finish
    call, job = closed(team_client)
    assert (call.status, call.finish_reason) == (CallStatus.SUCCEEDED, "content_filter")
    assert not call.usage_estimated
    assert call.completion_tokens == 0
    assert_charged(team, job, call.total_tokens)


# --- Usage the provider did not report ------------------------------------------------


@pytest.mark.parametrize("endpoint", NOT_STREAMED)
def test_an_answer_without_usage_is_billed_on_an_estimate(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-no-usage"))
    assert response.status_code == HTTPStatus.OK
    call, job = closed(team_client)
    assert call.status == CallStatus.SUCCEEDED
    assert call.usage_estimated
    prompt = pricing.prompt_tokens_estimate(model=call.model_used, messages=MESSAGES)
    output = pricing.text_tokens_estimate("Echo: hello world")
    assert (call.prompt_tokens, call.completion_tokens) == (prompt, output)
    assert job.status == JobStatus.COMPLETED
    assert_charged(team, job, prompt + output)


@pytest.mark.parametrize("endpoint", STREAMED)
def test_a_stream_without_usage_is_billed_at_its_reserved_worst_case(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-no-usage"))
    events = sse_events(response.raw)
    call, job = closed(team_client)
    assert call.status == CallStatus.SUCCEEDED
    assert call.usage_estimated
    assert call.completion_tokens == 20
    assert call.total_tokens == call.reserved_tokens
    assert usage_frame(events)["total_tokens"] == call.reserved_tokens
    assert job.status == JobStatus.COMPLETED
    assert_charged(team, job, call.reserved_tokens)


# --- Usage the provider reported wrongly ----------------------------------------------


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_an_absurd_usage_is_capped_at_the_reserved_worst_case(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-usage-huge"))
    assert response.status_code == HTTPStatus.OK
    call, job = closed(team_client)
    assert call.status == CallStatus.SUCCEEDED
    assert call.usage_estimated
    assert call.total_tokens == call.reserved_tokens
    assert job.status == JobStatus.COMPLETED
    assert_charged(team, job, call.reserved_tokens)


@pytest.mark.parametrize("endpoint", NOT_STREAMED)
def test_a_negative_usage_is_billed_on_an_estimate(
    send, fault, team, team_client, endpoint
):
    send(endpoint, fault("fake-usage-negative"))
    call, job = closed(team_client)
    assert call.usage_estimated
    prompt = pricing.prompt_tokens_estimate(model=call.model_used, messages=MESSAGES)
    assert call.prompt_tokens == prompt
    assert_charged(team, job, call.total_tokens)


@pytest.mark.parametrize("endpoint", STREAMED)
def test_a_negative_usage_in_a_stream_is_billed_at_the_worst_case(
    send, fault, team, team_client, endpoint
):
    send(endpoint, fault("fake-usage-negative"))
    call, job = closed(team_client)
    assert call.usage_estimated
    assert call.total_tokens == call.reserved_tokens
    assert_charged(team, job, call.reserved_tokens)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("endpoint", NOT_STREAMED)
def test_a_usage_that_is_not_a_number_is_a_502_uncharged(
    send, fault, team, team_client, endpoint
):
    response = send(endpoint, fault("fake-usage-string"))
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert_failed_uncharged(team, team_client)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("endpoint", STREAMED)
def test_a_usage_that_is_not_a_number_fails_the_stream_uncharged(
    send, fault, team, team_client, endpoint
):
    events = sse_events(send(endpoint, fault("fake-usage-string")).raw)
    assert [without_request_id(events[-2]), events[-1]] == [
        ERROR_FRAMES[endpoint],
        "[DONE]",
    ]
    assert_failed_uncharged(team, team_client)


# --- Requests the provider refuses ----------------------------------------------------

REFUSED_BY_THE_PROVIDER = {
    "tool schema": {
        "tools": [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "string"}},
            }
        ]
    },
    "message part": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "ftp://cat.png"}},
                ],
            }
        ]
    },
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("refused", sorted(REFUSED_BY_THE_PROVIDER))
def test_a_request_the_provider_refuses_is_the_clients_400_not_retried(
    send, fault, team, team_client, fake_provider, endpoint, refused
):
    model = fault("fake-strict", fallbacks=["chat"])
    before = fake_provider.request_count
    response = send(endpoint, model, **REFUSED_BY_THE_PROVIDER[refused])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert fake_provider.request_count == before + 1
    body = response.json()
    error = body.get("error", body)
    assert error["code"] == "provider_rejected_request"
    assert "(fake)" not in str(body)
    assert "Invalid value" not in str(body)
    assert "(fake)" not in LLMCall.objects.get().error
    assert_failed_uncharged(team, team_client)


def test_what_the_strict_provider_accepts_passes(send, fault):
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object"}},
        }
    ]
    response = send("native", fault("fake-strict"), tools=tools)
    assert response.status_code == HTTPStatus.OK
    assert LLMCall.objects.get().status == CallStatus.SUCCEEDED
