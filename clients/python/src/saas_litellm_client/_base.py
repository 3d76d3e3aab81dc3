"""What the async and the sync client share: configuration, request building, retry
policy, response parsing and the server-sent-events decoder. No I/O happens here."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import pydantic

from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    SaasLiteLLMError,
    StreamError,
    StructuredOutputError,
    UnexpectedResponseError,
)
from .models import (
    Balance,
    ChatResult,
    Job,
    JobCompletion,
    JobDetails,
    StreamChunk,
    StreamEvent,
    StreamUsage,
)

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
"""60 s to read an answer (LLM calls can be slow), 5 s to connect."""

# Statuses worth retrying. 429 and 503 mean the request was refused before any work,
# so they are safe to retry for every request; 502 and 504 may come after the server
# called the provider (and billed tokens), so only idempotent requests retry on them.
_RETRY_ANY = frozenset({429, 503})
_RETRY_IDEMPOTENT = frozenset({429, 502, 503, 504})

# Transport failures that prove the request never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a failed request.

    Only transient failures are retried, at most ``max_retries`` times, with exponential
    backoff and jitter. A request that may already have been processed (an LLM call or
    a job creation whose connection broke after it was sent, or that got a 502/504) is
    never retried, because retrying could run and bill it twice. Such requests retry
    only when the server provably did no work: a connection that could not be opened,
    or a 429/503 answer. Reads (GET) and ``complete_job`` (idempotent by contract) also
    retry on broken connections, timeouts, 502 and 504.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        backoff: First backoff delay in seconds; doubled on each retry.
        backoff_max: Upper bound of one backoff delay.
        max_retry_after: Longest ``Retry-After`` the client will wait; a longer one is
            raised at once as :class:`RateLimitError` so the caller can decide.
    """

    max_retries: int = 2
    backoff: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def backoff_delay(self, attempt: int) -> float:
        """Delay before retry number ``attempt + 1``: exponential with equal jitter."""
        delay = min(self.backoff_max, self.backoff * 2.0**attempt)
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not crypto

    def delay_after_exception(
        self, exc: httpx.TransportError, *, attempt: int, idempotent: bool
    ) -> float | None:
        """Seconds to wait before retrying after a transport error, or None."""
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, _NOT_SENT) or idempotent:
            return self.backoff_delay(attempt)
        return None

    def delay_after_error(
        self, error: SaasLiteLLMError, *, attempt: int, idempotent: bool
    ) -> float | None:
        """Seconds to wait before retrying after an error response, or None."""
        if attempt >= self.max_retries or error.status_code is None:
            return None
        statuses = _RETRY_IDEMPOTENT if idempotent else _RETRY_ANY
        if error.status_code not in statuses:
            return None
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            return error.retry_after
        return self.backoff_delay(attempt)


def transport_error(exc: httpx.TransportError) -> APIConnectionError:
    """The client's error for an httpx transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Request timed out: {type(exc).__name__}")
    return APIConnectionError(f"Connection failed: {exc or type(exc).__name__}")


@dataclass
class Call(Generic[T]):
    """One API request: what to send, whether it is safe to retry, how to parse it."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    idempotent: bool = False


def job_id_str(job_id: object) -> str:
    """A job id (str, UUID or anything with ``job_id``) as a canonical UUID string.

    Validated locally because the id goes into the URL path.
    """
    raw = getattr(job_id, "job_id", job_id)
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise ValueError(f"job_id must be a UUID, got {raw!r}") from None


def without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping without its None values (absent and null mean the same here)."""
    return {key: value for key, value in values.items() if value is not None}


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate a decoded body, turning a mismatch into UnexpectedResponseError."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise UnexpectedResponseError(
            f"Unexpected {model.__name__} response from the server: {exc}"
        ) from exc


def decode_json(response: httpx.Response) -> Any:
    """The JSON body of a successful response."""
    try:
        return response.json()
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Expected JSON from {response.request.url.path}, got "
            f"{response.headers.get('content-type', 'no content type')}",
            status_code=response.status_code,
        ) from exc


def parse_chat_result(data: Any) -> ChatResult:
    """Flatten the llm-call answer ``{call_id, response: {…}, metadata}``."""
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        raise UnexpectedResponseError("Unexpected llm-call response from the server")
    answer = data["response"]
    return validate(
        ChatResult,
        {
            "call_id": data.get("call_id"),
            "content": answer.get("content"),
            "finish_reason": answer.get("finish_reason"),
            "tool_calls": answer.get("tool_calls") or [],
            "metadata": data.get("metadata") or {},
        },
    )


def schema_name(model: type[pydantic.BaseModel]) -> str:
    """A json_schema name accepted by providers: ``[A-Za-z0-9_-]{1,64}``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "response"


def structured_response_format(
    model: type[pydantic.BaseModel], *, strict: bool
) -> dict[str, Any]:
    """The OpenAI ``response_format`` asking for JSON matching ``model``'s schema."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": schema_name(model),
            "schema": model.model_json_schema(),
            "strict": strict,
        },
    }


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_structured(model: type[ModelT], result: ChatResult) -> ModelT:
    """Validate the model's answer; a fenced ```json block is accepted too."""
    content = result.content
    if not content:
        raise StructuredOutputError(
            "The model returned no content to validate",
            content=content,
            call_id=result.call_id,
        )
    try:
        return model.model_validate_json(content)
    except pydantic.ValidationError as exc:
        fenced = _FENCE.match(content)
        if fenced:
            try:
                return model.model_validate_json(fenced.group(1))
            except pydantic.ValidationError:
                pass
        raise StructuredOutputError(
            f"The model's answer does not match {model.__name__}: "
            f"{exc.error_count()} validation error(s)",
            content=content,
            call_id=result.call_id,
            validation_error=exc,
        ) from exc


class SSEDecoder:
    """Incremental decoder of a ``text/event-stream``: lines in, event data out."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Feed one line (no newline); returns the data of a completed event."""
        line = line.rstrip("\r")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any (call at the end of the stream)."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


DONE = "[DONE]"


def parse_stream_event(data: str) -> StreamEvent:
    """Turn one ``data:`` payload into a typed event; an error frame raises."""
    try:
        frame = json.loads(data)
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Malformed stream frame: {data[:200]!r}"
        ) from exc
    if not isinstance(frame, dict):
        raise UnexpectedResponseError(f"Malformed stream frame: {data[:200]!r}")
    error = frame.get("error")
    if error:
        if isinstance(error, dict):
            raise StreamError(
                str(error.get("message") or "Stream failed"),
                error_type=error.get("type"),
            )
        raise StreamError(str(error))
    choices = frame.get("choices")
    if not choices and frame.get("usage") is not None:
        usage = dict(frame["usage"])
        if "total_tokens" not in usage and "tokens_used" in usage:
            usage["total_tokens"] = usage["tokens_used"]
        return validate(StreamUsage, {"call_id": frame.get("call_id"), "usage": usage})
    choice = choices[0] if isinstance(choices, list) and choices else {}
    delta = choice.get("delta") or {}
    return validate(
        StreamChunk,
        {
            "content": delta.get("content") or "",
            "finish_reason": choice.get("finish_reason"),
            "tool_calls": delta.get("tool_calls") or [],
            "model": frame.get("model"),
            "raw": frame,
        },
    )


@dataclass
class StreamState:
    """What a stream has produced so far; shared by the async and sync streams."""

    content_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    call_id: str | None = None
    usage: StreamUsage | None = None
    done: bool = False

    def handle(self, data: str) -> StreamEvent | None:
        """Process one event's data; returns the event to yield, None at ``[DONE]``."""
        if data.strip() == DONE:
            self.done = True
            return None
        event = parse_stream_event(data)
        if isinstance(event, StreamUsage):
            self.usage = event
            self.call_id = event.call_id
        else:
            self.content_parts.append(event.content)
            self.finish_reason = event.finish_reason or self.finish_reason
        return event


def check_stream_response(response: httpx.Response) -> None:
    """A 2xx answer to a stream request must be an event stream."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        raise UnexpectedResponseError(
            f"Expected an event stream, got {content_type or 'no content type'}",
            status_code=response.status_code,
        )


STREAM_CUT = "The stream ended before [DONE]"


class ClientCore:
    """Configuration and request builders shared by both clients."""

    def __init__(
        self,
        base_url: str,
        team_id: str,
        virtual_key: str,
        *,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        retry_backoff: float,
        retry_backoff_max: float,
        max_retry_after: float,
        headers: Mapping[str, str] | None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. 'http://localhost:8003'")
        if not team_id:
            raise ValueError("team_id is required")
        if not virtual_key:
            raise ValueError("virtual_key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        base = base_url.rstrip("/")
        # The guide's API_URL ends in /api; accept it as well as the bare host.
        self.base_url = base.removesuffix("/api")
        self.team_id = team_id
        self.timeout = (
            timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        )
        self.retry = RetryPolicy(
            max_retries=max_retries,
            backoff=retry_backoff,
            backoff_max=retry_backoff_max,
            max_retry_after=max_retry_after,
        )
        self.headers = {
            "Accept": "application/json",
            "User-Agent": f"saas-litellm-client/{__version__}",
            **(headers or {}),
            "Authorization": f"Bearer {virtual_key}",
        }

    def __repr__(self) -> str:
        # Never show the key.
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, "
            f"team_id={self.team_id!r})"
        )

    def build_request(
        self, http: httpx.Client | httpx.AsyncClient, call: Call[Any], *, stream: bool
    ) -> httpx.Request:
        """The httpx request for a call."""
        headers = dict(self.headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        return http.build_request(
            call.method,
            self.base_url + call.path,
            json=call.json,
            params=call.params,
            headers=headers,
            timeout=self.timeout,
        )

    # Request builders, one per endpoint.

    def create_job_call(
        self,
        job_type: str,
        *,
        user_id: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> Call[Job]:
        body = without_none(
            {
                "team_id": self.team_id,
                "job_type": job_type,
                "user_id": user_id,
                "metadata": dict(metadata) if metadata is not None else None,
            }
        )
        return Call("POST", "/api/jobs/create", lambda d: validate(Job, d), json=body)

    def chat_call(
        self,
        job_id: object,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> Call[ChatResult]:
        suffix = "llm-call-stream" if stream else "llm-call"
        body = {
            "model": model,
            "messages": [dict(message) for message in messages],
            **without_none(params),
        }
        return Call(
            "POST",
            f"/api/jobs/{job_id_str(job_id)}/{suffix}",
            parse_chat_result,
            json=body,
        )

    def complete_job_call(
        self,
        job_id: object,
        *,
        status: str,
        metadata: Mapping[str, Any] | None,
        error_message: str | None,
    ) -> Call[JobCompletion]:
        body = without_none(
            {
                "status": status,
                "metadata": dict(metadata) if metadata is not None else None,
                "error_message": error_message,
            }
        )
        # Completing twice returns the first result and never charges twice (API
        # contract), so this POST is safe to retry like a read.
        return Call(
            "POST",
            f"/api/jobs/{job_id_str(job_id)}/complete",
            lambda d: validate(JobCompletion, d),
            json=body,
            idempotent=True,
        )

    def get_job_call(self, job_id: object) -> Call[JobDetails]:
        return Call(
            "GET",
            f"/api/jobs/{job_id_str(job_id)}",
            lambda d: validate(JobDetails, d),
            idempotent=True,
        )

    def get_balance_call(self) -> Call[Balance]:
        return Call(
            "GET",
            "/api/credits/balance",
            lambda d: validate(Balance, d),
            params={"team_id": self.team_id},
            idempotent=True,
        )


def chat_params(
    *,
    purpose: str | None,
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None,
    stop: str | Sequence[str] | None,
    response_format: Mapping[str, Any] | None,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: str | Mapping[str, Any] | None,
    call_metadata: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The optional llm-call body fields, None meaning "not sent"."""
    return {
        "purpose": purpose,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "top_p": top_p,
        "stop": list(stop) if stop is not None and not isinstance(stop, str) else stop,
        "response_format": response_format,
        "tools": [dict(tool) for tool in tools] if tools is not None else None,
        "tool_choice": tool_choice,
        "call_metadata": call_metadata,
        **extra,
    }
