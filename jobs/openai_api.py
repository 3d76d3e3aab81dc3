"""OpenAI-compatible endpoints, so the official OpenAI SDKs work unchanged:
`POST /v1/chat/completions` (streamed or not) and `GET /v1/models[/{model}]`.

`POST /v1/embeddings` (jobs/openai_embeddings.py) and `POST /v1/completions`
(jobs/openai_completions.py) are adapters of the same kind, built on the helpers here.

The team's virtual key is the SDK's `api_key`; `model` is an alias, and every response
and chunk names that alias. Billing and records are those of /api/jobs: a request is a
one-call job (create, reserve, call, complete, capture), or, with an `X-Job-Id` header,
a call on that open job of the same team, which stays open (another team's job is 404,
a closed job 409). Errors are OpenAI's `{"error": {message, type, param, code}}` with
the statuses of the rest of the API, so the SDK raises its usual exception classes.

Request fields are validated as /api/jobs validates an llm-call (one parser,
`jobs.serializers.LLMCallSerializer`), OpenAI's other parameters included (seed,
logprobs, penalties, parallel_tool_calls, reasoning_effort, …): they are passed to the
provider as given, and one that a route's provider cannot take is a 400 naming it
(`jobs.gateway.params_check`), never a silent drop. `max_completion_tokens` stands for
`max_tokens`; `n` answers are made and billed (the reservation covers all of them);
`user` becomes the job's user_id (and is passed on); `metadata` becomes the call's
call_metadata (not sent to the provider). Fields OpenAI does not document are ignored.

Response headers: X-Job-Id, X-Call-Id, X-Gateway-Overhead-Ms (time spent in the
gateway, i.e. the request's time minus the time waiting on the provider), and on
non-streamed answers X-Credits-Charged (0 when attached to a job: the job is charged
when it is completed) and X-Credits-Remaining. A stream's headers leave before its
body, when the charge is not known yet: streams carry no credit headers (read
GET /api/jobs/{X-Job-Id}/costs), and their overhead is the time before the provider
was asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from credits.serializers import KeySelfSerializer
from credits.services import key_self
from jobs import pipeline
from jobs.gateway import Completion, usage_of
from jobs.models import LLMCall
from jobs.pipeline import Admitted, Parsed, StreamFormat
from jobs.serializers import PASSED_THROUGH, LLMCallSerializer
from jobs.services import CallRequest, NewJob
from saas_litellm.exceptions import (
    Dialect,
    NotFound,
    ParamInvalid,
    ProviderError,
    error_body,
)
from teams.models import ModelAlias, Team
from teams.services import team_allowed_models

JOB_TYPE = "chat.completions"
OWNED_BY = "saas-litellm"
CALL_FIELDS = (
    "model",
    "messages",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "tools",
    "tool_choice",
    *PASSED_THROUGH,
)
MAX_CHOICES = 128
# OpenAI's limits on `metadata` (recorded as the call's call_metadata).
METADATA_MAX_KEYS, METADATA_VALUE_MAX = 16, 512
USER_ID_MAX_LENGTH = 200


# --- Requests ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    call: CallRequest
    stream: bool
    include_usage: bool
    user_id: str


def param_typed(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ParamInvalid(f"{name}: must be a {kind.__name__}", param=name)
    return value


def choices_of(body: dict[str, Any]) -> int:
    n = param_typed(body, "n", int, 1)
    if isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        raise ParamInvalid(f"n: must be from 1 to {MAX_CHOICES}", param="n")
    return n


def chat_request_parse(body: dict[str, Any]) -> ChatRequest:
    """An OpenAI chat completions body, validated like an /api/jobs llm-call."""
    n = choices_of(body)
    stream = param_typed(body, "stream", bool, False)
    options = param_typed(body, "stream_options", dict, {})
    include_usage = param_typed(options, "include_usage", bool, False)
    user_id = user_id_of(body)
    fields = {name: body[name] for name in CALL_FIELDS if name in body}
    if fields.get("max_tokens") is None and "max_completion_tokens" in body:
        fields["max_tokens"] = body["max_completion_tokens"]
    if body.get("metadata") is not None:
        fields["call_metadata"] = metadata_of(body)
    serializer = LLMCallSerializer(data=fields)
    serializer.is_valid(raise_exception=True)
    return ChatRequest(
        call=serializer.call_request(n=n, user=user_id),
        stream=stream,
        include_usage=include_usage,
        user_id=user_id,
    )


# --- Responses --------------------------------------------------------------------


def completion_id(call: LLMCall) -> str:
    return f"chatcmpl-{call.call_id.hex}"


def chat_completion_body(call: LLMCall, completion: Completion) -> dict[str, Any]:
    choices = completion.choices or [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": completion.content,
                **(
                    {"tool_calls": completion.tool_calls}
                    if completion.tool_calls
                    else {}
                ),
            },
            "finish_reason": completion.finish_reason,
            "logprobs": None,
        }
    ]
    return {
        "id": completion_id(call),
        "object": "chat.completion",
        "created": int(call.created_at.timestamp()),
        "model": call.model_alias,
        "choices": [
            {**choice, "finish_reason": choice["finish_reason"] or "stop"}
            for choice in choices
        ],
        "usage": usage_of(completion),
    }


def chunk_format(call: LLMCall, *, include_usage: bool) -> StreamFormat:
    """OpenAI's chunks under one id, a usage chunk when asked for, OpenAI's error."""
    header = {
        "id": completion_id(call),
        "object": "chat.completion.chunk",
        "created": int(call.created_at.timestamp()),
        "model": call.model_alias,
    }

    def closing(result: pipeline.Result) -> dict[str, Any] | None:
        if not include_usage:
            return None
        usage = {**usage_of(result.completion), "credits": result.credits()}
        return {**header, "choices": [], "usage": usage}

    def error(failure: ProviderError) -> dict[str, Any]:
        return error_body(failure, Dialect.OPENAI)

    return StreamFormat(
        chunk=lambda frame: {**frame, **header}, closing=closing, error=error
    )


def _milliseconds(seconds: float) -> str:
    return f"{max(seconds, 0.0) * 1000:.2f}"


def call_headers(call: LLMCall, overhead_seconds: float) -> dict[str, str]:
    return {
        "X-Job-Id": str(call.job.job_id),
        "X-Call-Id": str(call.call_id),
        "X-Gateway-Overhead-Ms": _milliseconds(overhead_seconds),
    }


def answer(
    body: dict[str, Any], result: pipeline.Result, started: float
) -> JsonResponse:
    """A non-streamed answer: its body with `usage.credits`, and its headers."""
    body.setdefault("usage", {})["credits"] = result.credits()
    return JsonResponse(body, headers=result_headers(result, started))


def result_headers(result: pipeline.Result, started: float) -> dict[str, str]:
    """The headers of a non-streamed answer: its call, its job and the credits."""
    overhead = time.monotonic() - started - result.completion.provider_seconds
    return {
        **call_headers(result.call, overhead),
        "X-Credits-Charged": str(result.credits_charged),
        "X-Credits-Remaining": str(result.credits_remaining),
    }


def user_id_of(body: dict[str, Any]) -> str:
    """The request's `user`, which becomes its job's user_id."""
    user_id = param_typed(body, "user", str, "")
    if len(user_id) > USER_ID_MAX_LENGTH:
        raise ParamInvalid(
            f"user: at most {USER_ID_MAX_LENGTH} characters", param="user"
        )
    return user_id


def metadata_of(body: dict[str, Any]) -> dict[str, str]:
    """OpenAI's `metadata`: up to 16 string pairs, kept as the call's call_metadata
    (the team reads them on its job; they are not sent to the provider)."""
    metadata = param_typed(body, "metadata", dict, {})
    if len(metadata) > METADATA_MAX_KEYS or not all(
        isinstance(value, str) and len(value) <= METADATA_VALUE_MAX
        for value in metadata.values()
    ):
        raise ParamInvalid(
            f"metadata: at most {METADATA_MAX_KEYS} keys, with string values of at "
            f"most {METADATA_VALUE_MAX} characters",
            param="metadata",
        )
    return metadata


def job_id_of(request: HttpRequest) -> str | None:
    """The open job named by `X-Job-Id`, if any (else the call is a one-call job)."""
    return request.headers.get("X-Job-Id", "").strip() or None


# --- Views ------------------------------------------------------------------------


def _chat_parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
    chat = chat_request_parse(body)
    return Parsed(
        call=chat.call,
        stream=chat.stream,
        job_id=job_id_of(request),
        new_job=NewJob(job_type=JOB_TYPE, user_id=chat.user_id),
        extra=chat,
    )


@pipeline.llm_endpoint("POST", Dialect.OPENAI)
async def chat_completions(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _chat_parse)
    if admitted.parsed.stream:
        return await stream_response(request, admitted, started, chunk_format)
    result = await pipeline.run(admitted)
    return answer(chat_completion_body(result.call, result.completion), result, started)


async def stream_response(
    request: HttpRequest,
    admitted: Admitted,
    started: float,
    format_of: Callable[..., StreamFormat],
) -> HttpResponse:
    """An OpenAI stream: frames written by `format_of(call, include_usage=…)`, with
    the call's headers (its overhead: the time before the provider was asked)."""
    opened = await pipeline.stream_open(admitted)
    call = opened.ticket.call
    style = format_of(call, include_usage=admitted.parsed.extra.include_usage)
    frames = pipeline.relay(opened, style)
    headers = call_headers(call, opened.stream.started - started)
    return await pipeline.event_stream(request, frames, headers)


def _model_entry(alias: ModelAlias) -> dict[str, Any]:
    return {
        "id": alias.model_alias,
        "object": "model",
        "created": int(alias.created_at.timestamp()),
        "owned_by": OWNED_BY,
    }


def _allowed_models(request: HttpRequest) -> list[ModelAlias]:
    return list(team_allowed_models(team=pipeline.authenticate(request)))


@pipeline.llm_endpoint("GET", Dialect.OPENAI)
async def models_list(request: HttpRequest, started: float) -> HttpResponse:
    if "anthropic-version" in request.headers:
        from jobs import anthropic_api  # imported here: it is built on this module

        return await anthropic_api.models_list(request)
    aliases = await pipeline.in_database(_allowed_models)(request)
    return JsonResponse(
        {"object": "list", "data": [_model_entry(alias) for alias in aliases]}
    )


def _key_info(request: HttpRequest) -> dict[str, Any]:
    return dict(
        KeySelfSerializer(key_self(key=pipeline.authenticated_key(request))).data
    )


@pipeline.llm_endpoint("GET", Dialect.OPENAI)
async def key_info(request: HttpRequest, started: float) -> HttpResponse:
    """`GET /v1/key`: the calling key and its budget (as `GET /api/keys/self`), for
    clients that speak only OpenAI's dialect."""
    return JsonResponse(await pipeline.in_database(_key_info)(request))


@pipeline.llm_endpoint("GET", Dialect.OPENAI)
async def model_detail(
    request: HttpRequest, started: float, model: str
) -> HttpResponse:
    for alias in await pipeline.in_database(_allowed_models)(request):
        if alias.model_alias == model:
            return JsonResponse(_model_entry(alias))
    raise NotFound(f"The model '{model}' does not exist or you do not have access")
