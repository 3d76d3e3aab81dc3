"""`POST /v1/completions` (OpenAI's legacy text completions), streamed or not: an
adapter over the call pipeline, billed, refused and answered like
/v1/chat/completions (see jobs/openai_api.py) but in the `text_completion` shapes.

The prompt is sent as one user message through the chat path of `jobs.gateway`
(fallbacks, the fast path, stream checks and usage readings are the chat's). litellm's
`atext_completion` does the same for every chat model, and its `acompletion` calls a
provider's /completions endpoint itself for the models that only have that one
(`text-completion-openai/…`), so nothing is lost by not calling it here.

Request: `prompt` (a string or a list of one string), `max_tokens` (OpenAI's default:
16), `temperature`, `top_p`, `stop`, `stream`, `stream_options.include_usage`, `user`.
What a chat model cannot do is a 400 naming it: `n`/`best_of` other than 1, `echo`,
`suffix`, `logprobs`. Other OpenAI fields are accepted and ignored, as by chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from jobs import pipeline
from jobs.gateway import Completion, usage_of
from jobs.models import LLMCall
from jobs.openai_api import (
    ParamInvalid,
    answer,
    job_id_of,
    param_typed,
    stream_response,
    user_id_of,
)
from jobs.pipeline import Parsed, StreamFormat
from jobs.serializers import LLMCallSerializer
from jobs.services import CallRequest, NewJob
from saas_litellm.exceptions import Dialect, ProviderError, error_body
from teams.models import Team

JOB_TYPE = "completions"
DEFAULT_MAX_TOKENS = 16  # OpenAI's, for this endpoint
CALL_FIELDS = ("model", "max_tokens", "temperature", "top_p", "stop")


@dataclass(frozen=True)
class TextCompletionRequest:
    call: CallRequest
    stream: bool
    include_usage: bool
    user_id: str


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ParamInvalid(
            "prompt: must be a string or a list of one string", param="prompt"
        )
    return prompt


def _unsupported_check(body: dict[str, Any]) -> None:
    for name in ("n", "best_of"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or value != 1):
            raise ParamInvalid(f"only {name}=1 is supported", param=name)
    if body.get("echo"):
        raise ParamInvalid("echo is not supported", param="echo")
    for name in ("suffix", "logprobs"):
        if body.get(name) is not None:
            raise ParamInvalid(f"{name} is not supported", param=name)


def text_completion_request_parse(body: dict[str, Any]) -> TextCompletionRequest:
    """An OpenAI completions body, validated like an /api/jobs llm-call."""
    _unsupported_check(body)
    stream = param_typed(body, "stream", bool, False)
    options = param_typed(body, "stream_options", dict, {})
    fields = {name: body[name] for name in CALL_FIELDS if name in body}
    fields.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
    fields["messages"] = [{"role": "user", "content": _prompt(body)}]
    serializer = LLMCallSerializer(data=fields)
    serializer.is_valid(raise_exception=True)
    return TextCompletionRequest(
        call=serializer.call_request(),
        stream=stream,
        include_usage=param_typed(options, "include_usage", bool, False),
        user_id=user_id_of(body),
    )


# --- Responses --------------------------------------------------------------------


def _header(call: LLMCall) -> dict[str, Any]:
    return {
        "id": f"cmpl-{call.call_id.hex}",
        "object": "text_completion",
        "created": int(call.created_at.timestamp()),
        "model": call.model_alias,
    }


def _choice(text: str, finish_reason: str | None) -> dict[str, Any]:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}


def text_completion_body(call: LLMCall, completion: Completion) -> dict[str, Any]:
    return {
        **_header(call),
        "choices": [
            _choice(completion.content or "", completion.finish_reason or "stop")
        ],
        "usage": usage_of(completion),
    }


def text_chunk_format(call: LLMCall, *, include_usage: bool) -> StreamFormat:
    """Chat chunks rewritten as `text_completion` chunks under one id, a usage chunk
    (no choices) when asked for, OpenAI's error."""
    header = _header(call)

    def chunk(frame: dict[str, Any]) -> dict[str, Any]:
        choices = frame.get("choices") or [{}]
        delta = choices[0].get("delta") or {}
        text = delta.get("content") or ""
        return {**header, "choices": [_choice(text, choices[0].get("finish_reason"))]}

    def closing(result: pipeline.Result) -> dict[str, Any] | None:
        if not include_usage:
            return None
        usage = {**usage_of(result.completion), "credits": result.credits()}
        return {**header, "choices": [], "usage": usage}

    def error(failure: ProviderError) -> dict[str, Any]:
        return error_body(failure, Dialect.OPENAI)

    return StreamFormat(chunk=chunk, closing=closing, error=error)


# --- View -------------------------------------------------------------------------


def _text_parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
    text = text_completion_request_parse(body)
    return Parsed(
        call=text.call,
        stream=text.stream,
        job_id=job_id_of(request),
        new_job=NewJob(job_type=JOB_TYPE, user_id=text.user_id),
        extra=text,
    )


@pipeline.llm_endpoint("POST", Dialect.OPENAI)
async def completions(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _text_parse)
    if admitted.parsed.stream:
        return await stream_response(request, admitted, started, text_chunk_format)
    result = await pipeline.run(admitted)
    return answer(text_completion_body(result.call, result.completion), result, started)
