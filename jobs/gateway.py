"""The litellm gateway: every provider call goes through here.

`completion_run`, `completion_stream_open` and `embedding_run` try a request's
deployments in the order `jobs.routing` gave them, moving on only when a provider
fails with a retryable error (429, 5xx, timeout, connection error), retrying with
backoff when an alias has no deployment left (`_attempted`). OpenAI-compatible
chat routes take the fast path (`jobs.fastpath`), everything else litellm
(embeddings: litellm's `aembedding`).
Failures come back as ProviderError / ProviderTimeout / ProviderRejected, whose
client-facing detail never carries the provider's message; `internal` holds a
sanitized description (exception class, status, route) for the LLMCall row.

An answer that cannot be read (not JSON, no choices, a usage count that is not a
number) or a stream that is malformed (see `Stream`) fails as litellm fails it, with
a 500 on either path: before the first byte another route may answer.

A Completion carries the usage the provider reported, or none (`usage_reported` is
False): none sent, 0 prompt tokens, a negative or absurd count, or the count litellm
makes up for a stream without usage. Estimating it is `jobs.pricing`'s work, as is
every price; `jobs/tests/test_llm_passthrough.py` pins both paths to one reading.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

# litellm must never fetch its price table (or tokenizers) from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import litellm
import openai
from django.conf import settings
from litellm import exceptions as litellm_errors
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

from jobs import deployment_health, fastpath
from jobs.routing import Attempts, Route
from saas_litellm import metrics
from saas_litellm.exceptions import (
    ParamUnsupported,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
)

litellm.telemetry = False
litellm.suppress_debug_info = True
# A parameter a route's provider cannot take is refused before the call
# (`params_check`); for a model litellm knows no parameter list of, litellm drops
# what the provider would reject rather than failing the call.
litellm.drop_params = True
litellm.success_callback = []
litellm.failure_callback = []
litellm.callbacks = []
# Our fallbacks do the retrying. litellm reads a max_retries of 0 as "not given" on
# some paths (its OpenAI embeddings: `max_retries or DEFAULT_MAX_RETRIES`), which
# would make its client retry a failing provider behind our back.
litellm.DEFAULT_MAX_RETRIES = 0
# Before Python 3.12 the cyclic garbage collector can run inside ContextVar.set, and
# a finalizer that sets a contextvar there frees the context's mapping under the
# outer set (python/cpython#148891): "unhashable type: 'hamt_bitmap_node'" or a
# segfault, in whichever request's thread the collection fell. litellm's stream
# wrapper sets two contextvars in `__del__`, restoring log-correlation ids that it
# stamps only when `request_correlation_in_logs` is on; off, as here, it writes back
# the values already there. So while it is off, the wrapper has no finalizer.
if not litellm.request_correlation_in_logs and "__del__" in vars(CustomStreamWrapper):
    del CustomStreamWrapper.__del__

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_STATUS = {408, 409, 425, 429}
# What may be embedded: a string, strings, a token array or token arrays.
EmbeddingInput = str | list[str] | list[int] | list[list[int]]
_COUNT_TEXT = re.compile(r"\s*[+-]?\d+\s*")


@dataclass(frozen=True)
class CallParams:
    """What the team asked for, already validated. A call with an `input` is an
    embedding (no messages, no output); every other call is a chat completion."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    input: EmbeddingInput | None = None
    dimensions: int | None = None
    # How many answers (choices) to make; the other OpenAI parameters the team set
    # (seed, logprobs, penalties, …: jobs.serializers.PASSED_THROUGH), as given.
    n: int = 1
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def embeds(self) -> bool:
        return self.input is not None

    def provider_kwargs(self) -> dict[str, Any]:
        names = (
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "response_format",
            "tools",
            "tool_choice",
        )
        kwargs = {name: getattr(self, name) for name in names}
        if self.n != 1:
            kwargs["n"] = self.n
        kwargs.update(self.options)
        return {name: value for name, value in kwargs.items() if value is not None}


# Parameters every provider takes through litellm: `max_tokens` (mapped to each
# provider's own) and `user` (the job's end user; litellm forwards it where the
# provider has such a field, and it is recorded as the job's user_id anyway).
ALWAYS_TAKEN = frozenset({"max_tokens", "user"})


@functools.lru_cache(maxsize=1024)
def _params_supported(model: str) -> frozenset[str] | None:
    """The OpenAI parameters litellm can send to this model (None: not known)."""
    try:
        _, provider, _, _ = litellm.get_llm_provider(model=model)
        names = litellm.get_supported_openai_params(
            model=model, custom_llm_provider=provider
        )
    except Exception:
        return None
    return frozenset(names) if names else None


def params_check(routes: list[Route], params: CallParams) -> None:
    """Refuse (400 naming it) a parameter that a route's provider cannot take: it
    would be dropped on the way (litellm's drop_params), changing the answer
    without a word."""
    if params.embeds:
        return
    asked = params.provider_kwargs().keys() - ALWAYS_TAKEN
    for route in routes:
        supported = _params_supported(route.model)
        if supported is None:
            continue
        for name in sorted(asked - supported):
            raise ParamUnsupported(
                f"{name}: not supported by model {route.alias!r}", param=name
            )


@dataclass
class Completion:
    """The outcome of a successful call. Without `usage_reported` the provider sent no
    usage and the token counts are 0 until `jobs.pricing.usage_settle` fills them."""

    route: Route
    content: str | None = None
    finish_reason: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    # Every answer as OpenAI's choice objects (index, message, finish_reason,
    # logprobs); `content`, `finish_reason` and `tool_calls` are the first one's.
    # A stream's are not kept (its chunks carried them).
    choices: list[dict[str, Any]] | None = None
    # An embedding's vectors, in the order of its inputs.
    embeddings: list[list[float]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Parts of the counts above (see UsageCounts).
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_reported: bool = False
    usage_estimated: bool = False
    latency_ms: int = 0
    # The same wait as latency_ms, unrounded (the /v1 overhead header subtracts it).
    provider_seconds: float = 0.0
    ttft_ms: int | None = None  # a stream's: see Stream.first_token_seconds

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def texts(self) -> list[str]:
        """The text of every answer."""
        if not self.choices:
            return [self.content or ""]
        return [
            (choice.get("message") or {}).get("content") or ""
            for choice in self.choices
        ]


def usage_of(completion: Completion) -> dict[str, Any]:
    """OpenAI's usage object, details included."""
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": completion.cached_tokens,
            "cache_write_tokens": completion.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": completion.reasoning_tokens},
    }


def _token_count(value: Any) -> int | None:
    """One usage figure, read as litellm reads it (pydantic's lax int): missing is 0,
    a whole float or a string of digits is that number. Anything else is not a
    count at all: litellm fails such an answer before we could see it, so it is a
    ValueError here (the answer is malformed) on the fast path too. A count that
    cannot be true (negative, or beyond 2**62) is None: not to be billed on."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return None
    whole = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and _COUNT_TEXT.fullmatch(value)
    if not (isinstance(value, int) or whole or digits):
        raise ValueError(f"a usage count of type {type(value).__name__}")
    count = int(value)
    return count if 0 <= count <= 2**62 else None


@dataclass(frozen=True)
class UsageCounts:
    """The provider's usage. `cached` (read from the provider's prompt cache) and
    `cache_write` (written to it) are parts of `prompt`; `reasoning` is part of
    `completion`. litellm reports an Anthropic prompt this way too (its input,
    cache-read and cache-creation tokens summed into prompt_tokens)."""

    prompt: int
    completion: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0


def _detail(usage: dict[str, Any], *path: str) -> int:
    """A usage detail (`usage[a][b]` or `usage[a]`); 0 when absent or not a count:
    details only ever lower a price or describe it, so an odd one is dropped."""
    value: Any = usage
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    try:
        return _token_count(value) or 0
    except ValueError:
        return 0


def _usage_counts(usage: Any) -> UsageCounts | None:
    """The provider's usage, or None when it reported none to bill on (then
    `jobs.pricing` estimates it). Every request has a prompt, so 0 prompt tokens
    is no count: it is also what litellm reports (0/0) when the provider sent no
    usage. Raises ValueError for a usage that is not one."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise ValueError(f"a usage of type {type(usage).__name__}")
    prompt = _token_count(usage.get("prompt_tokens"))
    output = _token_count(usage.get("completion_tokens"))
    if not prompt or output is None:
        return None
    cached = min(
        _detail(usage, "prompt_tokens_details", "cached_tokens")
        or _detail(usage, "cache_read_input_tokens"),
        prompt,
    )
    cache_write = min(
        _detail(usage, "cache_creation_input_tokens")
        or _detail(usage, "prompt_tokens_details", "cache_creation_tokens"),
        prompt - cached,
    )
    reasoning = min(
        _detail(usage, "completion_tokens_details", "reasoning_tokens"), output
    )
    return UsageCounts(prompt, output, cached, cache_write, reasoning)


def _usage_set(completion: Completion, counts: UsageCounts | None) -> None:
    if counts is not None:
        completion.prompt_tokens = counts.prompt
        completion.completion_tokens = counts.completion
        completion.cached_tokens = counts.cached
        completion.cache_write_tokens = counts.cache_write
        completion.reasoning_tokens = counts.reasoning
        completion.usage_reported = True


# --- Errors -----------------------------------------------------------------------


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, asyncio.TimeoutError | litellm_errors.Timeout):
        return True
    if isinstance(exc, litellm_errors.APIConnectionError | openai.APIConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status >= 500 or status in RETRYABLE_STATUS)


def _is_timeout(exc: Exception) -> bool:
    return isinstance(exc, asyncio.TimeoutError | litellm_errors.Timeout)


def _is_rejection(exc: Exception) -> bool:
    """The provider refused the request itself (400/422): the client's fault."""
    return isinstance(exc, litellm_errors.BadRequestError) or getattr(
        exc, "status_code", None
    ) in (400, 422)


def _sanitized(exc: Exception, route: Route) -> str:
    """Class name and status only: provider messages may echo keys or model names."""
    status = getattr(exc, "status_code", None)
    described = type(exc).__name__ + (f" status={status}" if status else "")
    return f"{described} (alias {route.alias})"


def _failure(exc: Exception, route: Route, tried: list[str]) -> ProviderError:
    if _is_timeout(exc):
        error: ProviderError = ProviderTimeout()
    elif _is_rejection(exc):
        error = ProviderRejected()
    else:
        error = ProviderError()
    error.internal = "; ".join([*tried, _sanitized(exc, route)])
    return error


def stream_failure(exc: Exception, route: Route) -> ProviderError:
    """The error to record when a stream breaks after its first byte."""
    return _failure(exc, route, [])


# --- Non-streamed -----------------------------------------------------------------


def _request_kwargs(
    route: Route, params: CallParams, *, stream: bool
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": route.model,
        "messages": params.messages,
        "timeout": settings.LLM_TIMEOUT_SECONDS,
        "num_retries": 0,
        "max_retries": 0,
        **params.provider_kwargs(),
    }
    if route.api_key:
        kwargs["api_key"] = route.api_key
    if route.api_base:
        kwargs["api_base"] = route.api_base
    if route.mock_response:
        kwargs["mock_response"] = route.mock_response
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def _request_body(params: CallParams, *, stream: bool) -> dict[str, Any]:
    """The OpenAI request body of the fast path (model set by it)."""
    body: dict[str, Any] = {"messages": params.messages, **params.provider_kwargs()}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _tool_calls_of(message: dict[str, Any]) -> list[dict[str, Any]] | None:
    calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            },
        }
        for call in message.get("tool_calls") or []
    ]
    return calls or None


def _choice_of(choice: dict[str, Any]) -> dict[str, Any]:
    """One answer as OpenAI writes it, without what a provider adds of its own."""
    message = choice.get("message") or {}
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise TypeError("content")
    written: dict[str, Any] = {"role": "assistant", "content": content}
    tool_calls = _tool_calls_of(message)
    if tool_calls:
        written["tool_calls"] = tool_calls
    if message.get("refusal"):
        written["refusal"] = message["refusal"]
    return {
        "index": choice.get("index", 0),
        "message": written,
        "finish_reason": choice.get("finish_reason") or "",
        "logprobs": _without_none(choice.get("logprobs")),
    }


def _completion_of(body: dict[str, Any], route: Route, started: float) -> Completion:
    """A chat completion body (the provider's JSON, or litellm's response dumped).
    One that cannot be read is litellm's 500 for it, on either path: another route
    may do better."""
    try:
        choices = [_choice_of(choice) for choice in body["choices"]]
        first = choices[0]
        waited = time.monotonic() - started
        completion = Completion(
            route=route,
            content=first["message"]["content"],
            finish_reason=first["finish_reason"],
            tool_calls=first["message"].get("tool_calls"),
            choices=choices,
            latency_ms=int(waited * 1000),
            provider_seconds=waited,
        )
        _usage_set(completion, _usage_counts(body.get("usage")))
    except (LookupError, TypeError, ValueError, AttributeError):
        raise fastpath.answer_malformed(route) from None
    return completion


async def _body_of(route: Route, params: CallParams) -> dict[str, Any]:
    if fastpath.route_is_passthrough(route):
        response = await fastpath.send(
            route, _request_body(params, stream=False), stream=False
        )
        return fastpath.json_of(response, route)
    response = await litellm.acompletion(**_request_kwargs(route, params, stream=False))
    return response.model_dump()


def _retry_after(exc: Exception) -> float | None:
    """The provider's Retry-After (seconds, or an HTTP date), if it sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def _attempt(
    attempts: Attempts, route: Route, send: Callable[[Route], Awaitable[T]]
) -> T:
    """One request to one deployment, logged, counted, and reported to the shared
    health state when the plan is tracked."""
    began = time.monotonic()
    if attempts.tracked:
        deployment_health.later(deployment_health.started, route)
    try:
        result = await asyncio.wait_for(
            send(route), timeout=settings.LLM_TIMEOUT_SECONDS + 1
        )
    except BaseException as exc:
        waited = int((time.monotonic() - began) * 1000)
        retryable = isinstance(exc, Exception) and _is_retryable(exc)
        outcome = _sanitized(exc, route) if isinstance(exc, Exception) else "cancelled"
        attempts.record(route, outcome, waited)
        metrics.deployment_attempted(
            alias=route.alias, position=route.position, ok=False
        )
        if attempts.tracked:
            deployment_health.later(deployment_health.finished, route, latency_ms=None)
            if retryable:
                deployment_health.later(
                    deployment_health.failed, route, retry_after=_retry_after(exc)
                )
        raise
    waited = int((time.monotonic() - began) * 1000)
    attempts.record(route, "ok", waited)
    metrics.deployment_attempted(alias=route.alias, position=route.position, ok=True)
    if attempts.tracked:
        deployment_health.later(deployment_health.finished, route, latency_ms=waited)
    return result


def _retry_wait(exc: Exception, retry: int) -> float:
    backoff = settings.ROUTER_RETRY_BACKOFF_SECONDS * 2**retry
    return max(backoff, _retry_after(exc) or 0.0)


async def _attempted(attempts: Attempts, send: Callable[[Route], Awaitable[T]]) -> T:
    """`send` to each alias's deployments in order until one answers, moving on at
    once after a retryable failure (429, 5xx, timeout); when all of an alias's have
    failed, retry the one with the shortest wait (its Retry-After, or the backoff)
    up to ROUTER_RETRIES times if the wait is short enough, then the next alias. A
    failure that is not retryable (the request's own fault) ends it."""
    tried: list[str] = []
    last: tuple[Exception, Route] | None = None
    for group in attempts.groups:
        failures: dict[Route, Exception] = {}
        pending = [(route, 0.0) for route in group.routes]
        retries = 0
        while pending:
            route, wait = pending.pop(0)
            await asyncio.sleep(wait)
            try:
                return await _attempt(attempts, route, send)
            except Exception as exc:
                if not _is_retryable(exc):
                    raise _failure(exc, route, tried) from None
                tried.append(_sanitized(exc, route))
                failures[route] = exc
                last = (exc, route)
            if not pending and retries < settings.ROUTER_RETRIES:
                route = min(failures, key=lambda r: _retry_wait(failures[r], retries))
                wait = _retry_wait(failures[route], retries)
                retries += 1
                if wait <= settings.ROUTER_RETRY_WAIT_MAX_SECONDS:
                    pending.append((route, wait))
    if last is None:  # pragma: no cover - attempt_order never leaves no route
        raise ProviderError()
    exc, route = last
    raise _failure(exc, route, tried[:-1])


async def _answer_run(
    attempts: Attempts,
    send: Callable[[Route], Awaitable[dict[str, Any]]],
    read: Callable[[dict[str, Any], Route, float], Completion],
) -> Completion:
    """`send` a request (`read` turns its body into a Completion) through
    `_attempted`."""
    started = time.monotonic()

    async def answered(route: Route) -> Completion:
        return read(await send(route), route, started)

    return await _attempted(attempts, answered)


async def completion_run(*, attempts: Attempts, params: CallParams) -> Completion:
    """One non-streamed completion, through the other deployments and the
    fallbacks when a provider fails."""
    return await _answer_run(
        attempts, lambda route: _body_of(route, params), _completion_of
    )


async def deployment_check(route: Route, *, embeds: bool = False) -> Completion:
    """One tiny request (a 1-token completion, or the embedding of a word) to
    exactly this deployment: no retry, no fallback, nothing recorded."""
    if embeds:
        params = CallParams(messages=[], input="ok")
        send: Callable[[Route], Awaitable[dict[str, Any]]] = functools.partial(
            _embedding_body_of, params=params
        )
        read = _embedding_reader(params)
    else:
        params = CallParams(
            messages=[{"role": "user", "content": "Say ok."}], max_tokens=1
        )
        send, read = functools.partial(_body_of, params=params), _completion_of
    started = time.monotonic()
    try:
        body = await _attempt(Attempts.in_order([route]), route, send)
        return read(body, route, started)
    except Exception as exc:
        raise _failure(exc, route, []) from None


# --- Embeddings -------------------------------------------------------------------


def _embedding_kwargs(route: Route, params: CallParams) -> dict[str, Any]:
    """litellm's aembedding arguments. Vectors are always asked for as floats (the
    adapter encodes base64 itself): not every provider litellm reaches can."""
    kwargs: dict[str, Any] = {
        "model": route.model,
        "input": params.input,
        "timeout": settings.LLM_TIMEOUT_SECONDS,
        "num_retries": 0,
        "max_retries": 0,
    }
    if params.dimensions is not None:
        kwargs["dimensions"] = params.dimensions
        if route.model.startswith("openai/"):
            # litellm would drop it for any OpenAI-compatible model not named
            # text-embedding-3…: let the provider say whether it takes it.
            kwargs["allowed_openai_params"] = ["dimensions"]
    if route.api_key:
        kwargs["api_key"] = route.api_key
    if route.api_base:
        kwargs["api_base"] = route.api_base
    return kwargs


def _inputs_count(value: EmbeddingInput | None) -> int:
    if isinstance(value, str) or (value and isinstance(value[0], int)):
        return 1
    return len(value or [])


MOCK_EMBEDDING_DIMENSIONS = 1536  # litellm's mock vector


async def _embedding_body_of(route: Route, params: CallParams) -> dict[str, Any]:
    if route.mock_response:
        # An offline alias. litellm's mock answers one vector whatever the input:
        # answer its zeros once per input, without usage (estimated, as for a
        # provider that reports none).
        vector = [0.0] * (params.dimensions or MOCK_EMBEDDING_DIMENSIONS)
        count = _inputs_count(params.input)
        return {"data": [{"index": i, "embedding": vector} for i in range(count)]}
    response = await litellm.aembedding(**_embedding_kwargs(route, params))
    return response.model_dump()


def _embedding_reader(
    params: CallParams,
) -> Callable[[dict[str, Any], Route, float], Completion]:
    def read(body: dict[str, Any], route: Route, started: float) -> Completion:
        """An embeddings body: one vector of numbers per input, or litellm's 500
        for a malformed answer (another route may do better)."""
        try:
            items = sorted(body["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
            if len(vectors) != _inputs_count(params.input):
                raise ValueError("one vector per input")
            waited = time.monotonic() - started
            completion = Completion(
                route=route,
                embeddings=vectors,
                latency_ms=int(waited * 1000),
                provider_seconds=waited,
            )
            _usage_set(completion, _usage_counts(body.get("usage")))
        except (LookupError, TypeError, ValueError, AttributeError):
            raise fastpath.answer_malformed(route) from None
        return completion

    return read


async def embedding_run(*, attempts: Attempts, params: CallParams) -> Completion:
    """One embeddings request (`params.input`), through the other deployments and
    the fallbacks when a provider fails, with the errors of `completion_run`."""
    return await _answer_run(
        attempts,
        lambda route: _embedding_body_of(route, params),
        _embedding_reader(params),
    )


# --- Streamed ---------------------------------------------------------------------


def _without_none(value: Any) -> Any:
    """What pydantic's `model_dump(exclude_none=True)` leaves of a parsed chunk."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


@dataclass
class Stream:
    """An open provider stream: chunks as the provider sends them, usage at the end.

    `open()` reads the stream's head: its chunks up to the first that carries part
    of the answer (text, a tool call or any other delta, or usage), so that a
    stream with no answer in it fails before the first byte, as one whose first
    chunk is malformed does. `frames()` yields OpenAI chunk dicts with `model` set
    to the alias; afterwards `completion()` holds the text, tool calls and the
    provider's usage if it sent any. Chunks are litellm's objects, or on the fast
    path the provider's JSON.

    A stream is malformed (litellm's error for it on both paths: a 500, so before
    the first byte another route may answer) when a chunk cannot be read, when it
    ends without a finish_reason (litellm's own rule for OpenAI streams), or when
    it ends having carried no answer: litellm makes up a finish_reason "stop" for a
    provider that sent nothing but [DONE]. An empty answer that says so (a
    finish_reason such as content_filter, and the provider's usage) is not
    malformed.
    """

    route: Route
    params: CallParams
    response: Any
    started: float
    text: list[str] = field(default_factory=list)
    usage: UsageCounts | None = None
    finish_reason: str = ""
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    answered: bool = False
    # From `started` to the end of `open()`: the first chunk carrying part of the
    # answer (the time to first token the request log and the metrics show).
    first_token_seconds: float | None = None
    _head: list[dict[str, Any]] = field(default_factory=list, init=False)
    _chunks: Any = field(default=None, init=False)
    _ended: bool = field(default=False, init=False)

    def _frame(self, chunk: Any) -> dict[str, Any] | None:
        if isinstance(chunk, dict):
            data = _without_none(chunk)
            usage = data.pop("usage", None)
        else:
            data = chunk.model_dump(exclude_none=True)
            usage = data.pop("usage", None)
            if usage is not None and not self._usage_is_the_providers():
                usage = None
        counts = _usage_counts(usage)
        if counts is not None:
            self.usage = counts
            self.answered = True
        for choice in data.get("choices", []):
            delta = choice.get("delta") or {}
            for name in ("provider_specific_fields", "function_call"):
                delta.pop(name, None)
            if any(value for name, value in delta.items() if name != "role"):
                self.answered = True
            if delta.get("content"):
                self.text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._tool_call_add(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        data.pop("provider_specific_fields", None)
        data.pop("system_fingerprint", None)
        if not data.get("choices"):
            return None
        data["model"] = self.route.alias
        return data

    def _usage_is_the_providers(self) -> bool:
        """Whether the usage on a litellm chunk is the provider's. litellm ends a
        stream asked for usage with a usage chunk of its own making: the
        provider's figures or, when the provider sent none, its tokenizer's count
        (litellm_core_utils/streaming_chunk_builder_utils.py, `calculate_usage`),
        which is no usage to bill on. Its stream wrapper keeps the provider's
        usage chunks in `chunks` (`_record_and_strip_usage_chunk`) until the end.
        A mock answer has no provider: litellm's count is all there is.
        jobs/tests/test_llm_passthrough.py pins this to the fast path's reading."""
        if self.route.mock_response:
            return True
        chunks = getattr(self.response, "chunks", None)
        if not isinstance(chunks, list):
            return True  # a wrapper this code does not know: take its word
        return any(getattr(chunk, "usage", None) is not None for chunk in chunks)

    def _tool_call_add(self, call: dict[str, Any]) -> None:
        index = call.get("index", 0)
        current = self.tool_calls.setdefault(
            index,
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        current["id"] = call.get("id") or current["id"]
        function = call.get("function") or {}
        current["function"]["name"] += function.get("name") or ""
        current["function"]["arguments"] += function.get("arguments") or ""

    async def _read(self) -> bool:
        """Read the next chunk into the head; False (checked) at the stream's end."""
        chunk = await _next_chunk(self._chunks)
        if chunk is None:
            self._ended = True
            if not self.finish_reason:
                raise fastpath.stream_broken(self.route, "no finish_reason")
            if not self.answered:
                raise fastpath.stream_broken(self.route, "no answer")
            return False
        try:
            frame = self._frame(chunk)
        except (LookupError, TypeError, ValueError, AttributeError):
            raise fastpath.stream_broken(self.route, "unreadable chunk") from None
        if frame is not None:
            self._head.append(frame)
        return True

    async def open(self) -> None:
        """Read the head (see the class): a malformed stream raises here."""
        self._chunks = self.response.__aiter__()
        while not self.answered and await self._read():
            pass
        self.first_token_seconds = time.monotonic() - self.started

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            while self._head:
                yield self._head.pop(0)
            if self._ended or not await self._read():
                return

    def completion(self) -> Completion:
        waited = time.monotonic() - self.started
        completion = Completion(
            route=self.route,
            content="".join(self.text),
            finish_reason=self.finish_reason,
            tool_calls=list(self.tool_calls.values()) or None,
            latency_ms=int(waited * 1000),
            provider_seconds=waited,
        )
        if self.first_token_seconds is not None:
            completion.ttft_ms = int(self.first_token_seconds * 1000)
        _usage_set(completion, self.usage)
        return completion

    async def close(self) -> None:
        """Let go of the provider connection (the client may have gone away)."""
        for target in (
            self.response,
            getattr(self.response, "completion_stream", None),
        ):
            closer = getattr(target, "aclose", None) or getattr(target, "close", None)
            if closer is None:
                continue
            try:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # closing is best effort
                logger.debug("closing the provider stream failed", exc_info=True)
            return


async def _next_chunk(iterator: Any) -> Any:
    try:
        # asyncio.timeout, not wait_for: no extra task per chunk.
        async with asyncio.timeout(settings.LLM_TIMEOUT_SECONDS):
            return await iterator.__anext__()
    except StopAsyncIteration:
        return None


async def completion_stream_open(*, attempts: Attempts, params: CallParams) -> Stream:
    """Open a stream and read its head, through the other deployments and the
    fallbacks on failure."""
    started = time.monotonic()

    async def opened(route: Route) -> Stream:
        stream = None
        try:
            if fastpath.route_is_passthrough(route):
                response = await fastpath.send(
                    route, _request_body(params, stream=True), stream=True
                )
            else:
                response = await litellm.acompletion(
                    **_request_kwargs(route, params, stream=True)
                )
            stream = Stream(
                route=route, params=params, response=response, started=started
            )
            await stream.open()
        except BaseException:
            if stream is not None:
                await stream.close()
            raise
        return stream

    return await _attempted(attempts, opened)


def cost_per_token(
    *,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> tuple[float, float]:
    """litellm's price table: USD for these tokens, cache reads and writes at the
    model's own rates (raises for an unknown model)."""
    usage = litellm.Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        prompt_tokens_details={"cached_tokens": cached_tokens},
        cache_creation_input_tokens=cache_write_tokens,
        cache_read_input_tokens=cached_tokens,
    )
    return litellm.cost_per_token(
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        usage_object=usage,
    )


def token_count(
    *,
    model: str,
    messages: list[dict[str, Any]] | None = None,
    text: str | None = None,
) -> int:
    """litellm's tokenizer for the model, of messages or of a text (raises when it
    cannot count)."""
    if text is not None:
        return int(litellm.token_counter(model=model, text=text))
    return int(litellm.token_counter(model=model, messages=messages))


def llm_warm() -> None:
    """Import litellm and run one offline completion so the first request is fast.

    Call it from gunicorn's master with preload (`on_starting`) so every worker forks
    warm.
    """
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "warm up"}],
        mock_response="ok",
    )
    token_count(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "warm"}]
    )
