"""Every API operation described once, as a :class:`Call`: method, path, body,
retry safety and how to parse the answer. Both clients only send these; no I/O
happens here."""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import pydantic

from .errors import StructuredOutputError, UnexpectedResponseError
from .models import (
    Balance,
    ChatResult,
    EmbeddingResult,
    Job,
    JobCompletion,
    JobDetails,
    KeyInfo,
    Response,
    ResponseDeleted,
)

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


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


@dataclass
class Call(Generic[T]):
    """One API request: what to send, whether it is safe to retry, how to parse it.

    ``idempotent`` marks requests that may be retried even when the server may
    already have processed them (see :class:`RetryPolicy`). ``headers`` are sent
    with this request only; ``header_fields`` copies answer headers into the
    decoded body before it is parsed (header name to field name).
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    idempotent: bool = False
    headers: dict[str, str] | None = None
    header_fields: Mapping[str, str] | None = None

    def result(self, response: httpx.Response) -> T:
        """The parsed answer of a successful response."""
        data = decode_json(response)
        if self.header_fields and isinstance(data, dict):
            data = {**data, **fields_from_headers(response, self.header_fields)}
        return self.parse(data)


def fields_from_headers(
    response: httpx.Response, header_fields: Mapping[str, str]
) -> dict[str, str]:
    """The fields named by ``header_fields`` whose header the answer has."""
    return {
        field: response.headers[header]
        for header, field in header_fields.items()
        if header in response.headers
    }


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


def validator(model: type[ModelT]) -> Callable[[Any], ModelT]:
    """A parser that validates a decoded body as ``model``."""
    return lambda data: validate(model, data)


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


# The operations, one function each.


def create_job_call(
    team_id: str,
    job_type: str,
    *,
    user_id: str | None,
    metadata: Mapping[str, Any] | None,
) -> Call[Job]:
    body = without_none(
        {
            "team_id": team_id,
            "job_type": job_type,
            "user_id": user_id,
            "metadata": dict(metadata) if metadata is not None else None,
        }
    )
    return Call("POST", "/api/jobs/create", validator(Job), json=body)


def get_job_call(job_id: object) -> Call[JobDetails]:
    path = f"/api/jobs/{job_id_str(job_id)}"
    return Call("GET", path, validator(JobDetails), idempotent=True)


def complete_job_call(
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
    path = f"/api/jobs/{job_id_str(job_id)}/complete"
    return Call("POST", path, validator(JobCompletion), json=body, idempotent=True)


def chat_call(
    job_id: object,
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    stream: bool,
    purpose: str | None,
    temperature: float | None,
    max_tokens: int | None,
    top_p: float | None,
    stop: str | Sequence[str] | None,
    response_format: Mapping[str, Any] | None,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: str | Mapping[str, Any] | None,
    call_metadata: Mapping[str, Any] | None,
    params: Mapping[str, Any],
) -> Call[ChatResult]:
    """An llm-call (or llm-call-stream); options that are None are not sent."""
    options = {
        "purpose": purpose,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "top_p": top_p,
        "stop": list(stop) if stop is not None and not isinstance(stop, str) else stop,
        "response_format": response_format,
        "tools": [dict(tool) for tool in tools] if tools is not None else None,
        "tool_choice": tool_choice,
        "call_metadata": call_metadata,
        **params,
    }
    body = {
        "model": model,
        "messages": [dict(message) for message in messages],
        **without_none(options),
    }
    suffix = "llm-call-stream" if stream else "llm-call"
    path = f"/api/jobs/{job_id_str(job_id)}/{suffix}"
    return Call("POST", path, parse_chat_result, json=body)


def embed_call(
    job_id: object,
    model: str,
    input: str | Sequence[str],
    *,
    dimensions: int | None,
    purpose: str | None,
    call_metadata: Mapping[str, Any] | None,
) -> Call[EmbeddingResult]:
    """An embedding in a job; options that are None are not sent."""
    body = {
        "model": model,
        "input": input if isinstance(input, str) else list(input),
        **without_none(
            {
                "dimensions": dimensions,
                "purpose": purpose,
                "call_metadata": call_metadata,
            }
        ),
    }
    path = f"/api/jobs/{job_id_str(job_id)}/embeddings"
    return Call("POST", path, validator(EmbeddingResult), json=body)


# The Responses API: /v1/responses

# The ids of the call and its job come as headers, not in the response object.
RESPONSE_HEADER_FIELDS = {"X-Call-Id": "call_id", "X-Job-Id": "job_id"}


def response_id_str(response_id: object) -> str:
    """A response id (str, or anything with ``id``) checked for the URL path."""
    raw = getattr(response_id, "id", response_id)
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"response_id must be a response id, got {raw!r}")
    return raw


def respond_call(
    model: str,
    input: str | Sequence[Mapping[str, Any]],
    *,
    stream: bool,
    instructions: str | None,
    previous_response_id: object | None,
    max_output_tokens: int | None,
    temperature: float | None,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: str | Mapping[str, Any] | None,
    store: bool | None,
    job_id: object | None,
    params: Mapping[str, Any],
) -> Call[Response]:
    """A ``POST /v1/responses``; options that are None are not sent. With a job,
    ``X-Job-Id`` attaches the call to it (else the call is a one-call job)."""
    if "stream" in params:
        raise TypeError("respond() takes no 'stream': use respond_stream()")
    options = {
        "instructions": instructions,
        "previous_response_id": (
            response_id_str(previous_response_id)
            if previous_response_id is not None
            else None
        ),
        "max_output_tokens": max_output_tokens,
        "temperature": temperature,
        "tools": [dict(tool) for tool in tools] if tools is not None else None,
        "tool_choice": tool_choice,
        "store": store,
        **params,
    }
    body = {
        "model": model,
        "input": input if isinstance(input, str) else [dict(item) for item in input],
        **without_none(options),
    }
    if stream:
        body["stream"] = True
    headers = {"X-Job-Id": job_id_str(job_id)} if job_id is not None else None
    return Call(
        "POST",
        "/v1/responses",
        validator(Response),
        json=body,
        headers=headers,
        header_fields=RESPONSE_HEADER_FIELDS,
    )


def _response_path(response_id: object) -> str:
    return "/v1/responses/" + urllib.parse.quote(response_id_str(response_id), safe="")


def get_response_call(response_id: object) -> Call[Response]:
    path = _response_path(response_id)
    return Call("GET", path, validator(Response), idempotent=True)


def delete_response_call(response_id: object) -> Call[ResponseDeleted]:
    # Deleting twice leaves the same state, so a retry is safe; but a retry after
    # a delete that went through (its answer lost) is a 404.
    path = _response_path(response_id)
    return Call("DELETE", path, validator(ResponseDeleted), idempotent=True)


def get_balance_call(team_id: str) -> Call[Balance]:
    path = "/api/credits/balance"
    params = {"team_id": team_id}
    return Call("GET", path, validator(Balance), params=params, idempotent=True)


def get_key_info_call() -> Call[KeyInfo]:
    return Call("GET", "/api/keys/self", validator(KeyInfo), idempotent=True)


# Structured output: the request asks for a JSON schema, the answer is validated.


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
