"""OpenAI-compatible endpoints, so the official OpenAI SDKs work unchanged:
`POST /v1/chat/completions` (streamed or not) and `GET /v1/models[/{model}]`.

The team's virtual key is the SDK's `api_key`; `model` is an alias, and every response
and chunk names that alias. Billing and records are those of /api/jobs: a request is a
one-call job (create, reserve, call, complete, capture), or, with an `X-Job-Id` header,
a call on that open job of the same team, which stays open (another team's job is 404,
a closed job 409). Errors are OpenAI's `{"error": {message, type, param, code}}` with
the statuses of the rest of the API, so the SDK raises its usual exception classes.

Request fields: those OpenAI and /api/jobs share are validated as /api/jobs does;
`max_completion_tokens` stands for `max_tokens`; `user` becomes the job's user_id;
`n` other than 1 is refused; other fields OpenAI knows (seed, logprobs, metadata, …)
are accepted and ignored, as most OpenAI-compatible gateways do.

Response headers: X-Job-Id, X-Call-Id, X-Gateway-Overhead-Ms (time spent in the
gateway, i.e. the request's time minus the time waiting on the provider), and on
non-streamed answers X-Credits-Charged (0 when attached to a job: the job is charged
when it is completed) and X-Credits-Remaining. A stream's headers leave before its
body, when the charge is not known yet: streams carry no credit headers (read
GET /api/jobs/{X-Job-Id}/costs), and their overhead is the time before the provider
was asked.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed

from credits.services import credit_account_get
from jobs import calls, llm
from jobs.api import _json_body, _team_authenticate, event_stream
from jobs.models import LLMCall
from jobs.serializers import LLMCallSerializer
from jobs.services import CallRequest, CallTicket, job_call_start
from saas_litellm.exceptions import InvalidInput, NotFound, ProviderError, ServiceError
from teams.authentication import TEAM_AUTH_FAILED
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
)
USER_ID_MAX_LENGTH = 200
ERROR_TYPES = {
    HTTPStatus.BAD_REQUEST: "invalid_request_error",
    HTTPStatus.UNAUTHORIZED: "authentication_error",
    HTTPStatus.FORBIDDEN: "permission_denied_error",
    HTTPStatus.NOT_FOUND: "not_found_error",
    HTTPStatus.METHOD_NOT_ALLOWED: "invalid_request_error",
    HTTPStatus.CONFLICT: "conflict_error",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "invalid_request_error",
    HTTPStatus.UNPROCESSABLE_ENTITY: "unprocessable_entity_error",
    HTTPStatus.TOO_MANY_REQUESTS: "rate_limit_error",
}


class ParamInvalid(InvalidInput):
    """A 400 naming the request field at fault (OpenAI's `param`)."""

    def __init__(self, detail: str, *, param: str | None) -> None:
        super().__init__(detail)
        self.param = param


class KeyRefused(ServiceError):
    status_code = HTTPStatus.UNAUTHORIZED
    detail = TEAM_AUTH_FAILED
    code = "invalid_api_key"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class MethodRefused(ServiceError):
    status_code = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(f'Method "{method}" not allowed.')
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allowed}


def openai_error(error: ServiceError) -> dict[str, Any]:
    status = HTTPStatus(error.status_code)
    return {
        "error": {
            "message": error.detail,
            "type": ERROR_TYPES.get(status, "api_error"),
            "param": getattr(error, "param", None),
            "code": error.code,
        }
    }


def _param_invalid(exc: serializers.ValidationError) -> ParamInvalid:
    """The first problem of a serializer's errors, as `<field>: <message>`."""
    detail: Any = exc.detail
    param = None
    if isinstance(detail, dict) and detail:
        param, detail = next(iter(detail.items()))
    while isinstance(detail, list | dict) and detail:
        detail = detail[0] if isinstance(detail, list) else next(iter(detail.values()))
    return ParamInvalid(f"{param}: {detail}" if param else str(detail), param=param)


def key_team(request: HttpRequest) -> Team:
    """The caller's team (one query), or KeyRefused."""
    try:
        return _team_authenticate(request)
    except AuthenticationFailed as exc:
        raise KeyRefused(str(exc.detail)) from None


def openai_endpoint(
    method: str, *, authenticate: bool = True
) -> Callable[[Callable[..., Awaitable[HttpResponse]]], Callable[..., Any]]:
    """One method, team key only, OpenAI's error bodies for every failure.

    The view gets the caller's team and the request's start (time.monotonic()).
    With `authenticate=False` it gets None for the team and must call `key_team`
    before anything else (in its own first trip to the database thread).
    """

    def decorate(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Any]:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            started = time.monotonic()
            try:
                if request.method != method:
                    raise MethodRefused(str(request.method), method)
                team = await sync_to_async(key_team)(request) if authenticate else None
                try:
                    return await view(request, team, started, **kwargs)
                except serializers.ValidationError as exc:
                    raise _param_invalid(exc) from None
            except ServiceError as exc:
                return JsonResponse(
                    openai_error(exc), status=exc.status_code, headers=exc.headers()
                )

        return csrf_exempt(wrapper)

    return decorate


# --- Requests ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    call: CallRequest
    stream: bool
    include_usage: bool
    user_id: str


def _typed(body: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise ParamInvalid(f"{name}: must be a {kind.__name__}", param=name)
    return value


def chat_request_parse(body: dict[str, Any]) -> ChatRequest:
    """An OpenAI chat completions body, validated like an /api/jobs llm-call."""
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise ParamInvalid("only n=1 is supported", param="n")
    stream = _typed(body, "stream", bool, False)
    options = _typed(body, "stream_options", dict, {})
    include_usage = _typed(options, "include_usage", bool, False)
    user_id = _typed(body, "user", str, "")
    if len(user_id) > USER_ID_MAX_LENGTH:
        raise ParamInvalid(
            f"user: at most {USER_ID_MAX_LENGTH} characters", param="user"
        )
    fields = {name: body[name] for name in CALL_FIELDS if name in body}
    if fields.get("max_tokens") is None and "max_completion_tokens" in body:
        fields["max_tokens"] = body["max_completion_tokens"]
    serializer = LLMCallSerializer(data=fields)
    serializer.is_valid(raise_exception=True)
    return ChatRequest(
        call=serializer.call_request(),
        stream=stream,
        include_usage=include_usage,
        user_id=user_id,
    )


# --- Responses --------------------------------------------------------------------


def completion_id(call: LLMCall) -> str:
    return f"chatcmpl-{call.call_id.hex}"


def chat_completion_body(call: LLMCall, completion: llm.Completion) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.tool_calls:
        message["tool_calls"] = completion.tool_calls
    return {
        "id": completion_id(call),
        "object": "chat.completion",
        "created": int(call.created_at.timestamp()),
        "model": call.model_alias,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": completion.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": calls.usage_of(completion),
    }


def chunk_format(call: LLMCall, *, include_usage: bool) -> calls.StreamFormat:
    """OpenAI's chunks under one id, a usage chunk when asked for, OpenAI's error."""
    header = {
        "id": completion_id(call),
        "object": "chat.completion.chunk",
        "created": int(call.created_at.timestamp()),
        "model": call.model_alias,
    }

    def closing(call: LLMCall, completion: llm.Completion) -> dict[str, Any] | None:
        if not include_usage:
            return None
        return {**header, "choices": [], "usage": calls.usage_of(completion)}

    def error(failure: ProviderError) -> dict[str, Any]:
        return openai_error(failure)

    return calls.StreamFormat(
        chunk=lambda frame: {**frame, **header}, closing=closing, error=error
    )


def _milliseconds(seconds: float) -> str:
    return f"{max(seconds, 0.0) * 1000:.2f}"


def _call_headers(call: LLMCall, overhead_seconds: float) -> dict[str, str]:
    return {
        "X-Job-Id": str(call.job.job_id),
        "X-Call-Id": str(call.call_id),
        "X-Gateway-Overhead-Ms": _milliseconds(overhead_seconds),
    }


# --- Views ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatStart:
    team: Team
    chat: ChatRequest
    job_id: str
    ticket: CallTicket | None


def chat_start(request: HttpRequest) -> ChatStart:
    """Authenticate, validate and, for a one-call job, start it: one database trip."""
    team = key_team(request)
    chat = chat_request_parse(_json_body(request))
    job_id = request.headers.get("X-Job-Id", "").strip()
    ticket = None
    if not job_id:
        ticket = job_call_start(
            team=team,
            job_type=JOB_TYPE,
            user_id=chat.user_id,
            request=chat.call,
            streamed=chat.stream,
        )
    return ChatStart(team=team, chat=chat, job_id=job_id, ticket=ticket)


@openai_endpoint("POST", authenticate=False)
async def chat_completions(
    request: HttpRequest, team: None, started: float
) -> HttpResponse:
    begun = await sync_to_async(chat_start)(request)
    chat = begun.chat
    if chat.stream:
        return await _chat_stream(request, begun, started)
    remaining = None
    if begun.ticket is None:
        call, completion = await calls.llm_call_execute(
            team=begun.team, job_id=begun.job_id, request=chat.call
        )
        charged = 0
    else:
        job, call, completion, remaining = await calls.job_call_execute(
            ticket=begun.ticket, request=chat.call
        )
        charged = job.credits_charged or 0
    if remaining is None:
        account = await sync_to_async(credit_account_get)(team=begun.team)
        remaining = account.credits_remaining
    overhead = time.monotonic() - started - completion.provider_seconds
    headers = {
        **_call_headers(call, overhead),
        "X-Credits-Charged": str(charged),
        "X-Credits-Remaining": str(remaining),
    }
    return JsonResponse(chat_completion_body(call, completion), headers=headers)


async def _chat_stream(
    request: HttpRequest, begun: ChatStart, started: float
) -> HttpResponse:
    chat = begun.chat
    if begun.ticket is None:
        opened = await calls.llm_call_stream_open(
            team=begun.team, job_id=begun.job_id, request=chat.call
        )
    else:
        opened = await calls.job_call_stream_open(
            ticket=begun.ticket, request=chat.call
        )
    style = chunk_format(opened.ticket.call, include_usage=chat.include_usage)
    frames = calls.llm_call_stream_relay(opened, style)
    headers = _call_headers(opened.ticket.call, opened.stream.started - started)
    return await event_stream(request, frames, headers)


def _model_entry(alias: ModelAlias) -> dict[str, Any]:
    return {
        "id": alias.model_alias,
        "object": "model",
        "created": int(alias.created_at.timestamp()),
        "owned_by": OWNED_BY,
    }


@openai_endpoint("GET")
async def models_list(request: HttpRequest, team: Team, started: float) -> HttpResponse:
    aliases = await sync_to_async(team_allowed_models)(team=team)
    return JsonResponse(
        {"object": "list", "data": [_model_entry(alias) for alias in aliases]}
    )


@openai_endpoint("GET")
async def model_detail(
    request: HttpRequest, team: Team, started: float, model: str
) -> HttpResponse:
    aliases = await sync_to_async(team_allowed_models)(team=team)
    for alias in aliases:
        if alias.model_alias == model:
            return JsonResponse(_model_entry(alias))
    raise NotFound(f"The model '{model}' does not exist or you do not have access")
