"""Typed exceptions raised by the client.

Every error the client raises is a :class:`SaasLiteLLMError`. Errors that come from an
HTTP response carry its ``status_code``, the API's ``detail`` message and its machine
``code`` (for example ``insufficient_credits``), and are mapped to a subclass by status
and code, so callers can catch exactly what they handle::

    try:
        await client.chat(job.job_id, "gpt-4o", messages)
    except InsufficientCreditsError:
        ...  # ask the operator for credits
    except BudgetExceededError as error:
        ...  # the key's or end user's budget is spent until error.retry_after
    except RateLimitError as error:
        await asyncio.sleep(error.retry_after or 1)
"""

from __future__ import annotations

import math
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConflictError",
    "InsufficientCreditsError",
    "JobClosedError",
    "KeyBudgetExceededError",
    "ModelAccessDeniedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "SaasLiteLLMError",
    "ServerError",
    "StreamError",
    "StructuredOutputError",
    "TeamMismatchError",
    "TeamPausedError",
    "TeamSuspendedError",
    "UnexpectedResponseError",
    "UserBudgetExceededError",
    "ValidationError",
]


class SaasLiteLLMError(Exception):
    """Base class of every error raised by the client.

    Attributes:
        detail: Human-readable message (the API's ``detail`` when there is a response;
            ``error.message`` on the OpenAI-shaped /v1 endpoints).
        status_code: HTTP status of the response, or ``None`` when there was none.
        code: The API's machine-readable ``code`` (e.g. ``"team_suspended"``), if any.
        body: The decoded error body, or ``None``.
    """

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        body: Any = None,
    ) -> None:
        self.detail = detail
        self.status_code = status_code
        self.code = code
        self.body = body
        super().__init__(detail)

    def __str__(self) -> str:
        parts = [self.detail]
        if self.status_code is not None:
            parts.insert(0, f"[{self.status_code}]")
        if self.code:
            parts.append(f"(code={self.code})")
        return " ".join(parts)


class APIConnectionError(SaasLiteLLMError):
    """The server could not be reached, or the connection broke before an answer."""


class APITimeoutError(APIConnectionError):
    """The request timed out (see the client's ``timeout`` setting)."""


class UnexpectedResponseError(SaasLiteLLMError):
    """The server answered with something that is not the documented shape."""


class ValidationError(SaasLiteLLMError):
    """400 or 422: the request was invalid.

    Attributes:
        errors: Per-field messages from the API's ``errors`` member, if any (on the
            /v1 endpoints, ``{param: [message]}`` when the error names a ``param``).
    """

    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        body = kwargs.get("body")
        self.errors: Any = body.get("errors") if isinstance(body, dict) else None
        error = openai_error(body)
        if self.errors is None and error is not None and error.get("param"):
            # The /v1 endpoints name one parameter: the same shape, one field.
            self.errors = {str(error["param"]): [detail]}


class AuthenticationError(SaasLiteLLMError):
    """401: missing, malformed, unknown, revoked or expired virtual key."""


class PermissionDeniedError(SaasLiteLLMError):
    """403: the team may not do this. ``code`` says why; subclasses exist per code."""


class TeamSuspendedError(PermissionDeniedError):
    """403 ``team_suspended``: an administrator suspended the team."""


class TeamPausedError(PermissionDeniedError):
    """403 ``team_paused``: the team is paused and cannot start work."""


class InsufficientCreditsError(PermissionDeniedError):
    """403 ``insufficient_credits``: the team cannot pay for more work."""


class BudgetExceededError(PermissionDeniedError):
    """403: a budget inside the team (of the key, or of the end user) has no room
    for the work, although the team may still have credits. Not retried.

    Attributes:
        retry_after: Seconds until the budget's period starts again, from the
            ``Retry-After`` header; ``None`` for a budget without a period (it will
            not reset by itself: the operator must raise it).
    """

    def __init__(
        self, detail: str, *, retry_after: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class KeyBudgetExceededError(BudgetExceededError):
    """403 ``key_budget_exceeded``: the virtual key's budget is spent."""


class UserBudgetExceededError(BudgetExceededError):
    """403 ``user_budget_exceeded``: the end user's budget is spent (the job's
    ``user_id``, or ``user`` on the /v1 endpoints)."""


class ModelAccessDeniedError(PermissionDeniedError):
    """403 ``model_access_denied``: the model alias is not available to the team."""


class TeamMismatchError(PermissionDeniedError):
    """403 ``team_mismatch``: the key does not belong to the ``team_id`` sent."""


class NotFoundError(SaasLiteLLMError):
    """404: unknown (or another team's) job, or unknown resource."""


class ConflictError(SaasLiteLLMError):
    """409: the request conflicts with the resource's state."""


class JobClosedError(ConflictError):
    """409 ``job_closed``: the job is already completed or failed."""


class RateLimitError(SaasLiteLLMError):
    """429: a team rate limit was hit.

    Attributes:
        retry_after: Seconds to wait from the ``Retry-After`` header, or ``None``.
    """

    def __init__(
        self, detail: str, *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServerError(SaasLiteLLMError):
    """5xx: the server failed."""


class ProviderError(ServerError):
    """502 ``provider_error``: the provider failed; the call is recorded as failed."""


class ProviderTimeoutError(ProviderError):
    """504 ``provider_timeout``: the LLM provider did not answer in time."""


class StreamError(SaasLiteLLMError):
    """An error frame arrived after a stream had started (status was already 200).

    Attributes:
        error_type: The frame's ``error.type``, if any.
    """

    def __init__(self, detail: str, *, error_type: str | None = None) -> None:
        super().__init__(detail, code=error_type)
        self.error_type = error_type


class StructuredOutputError(SaasLiteLLMError):
    """The model's answer did not validate against the requested pydantic model.

    Attributes:
        content: The raw text the model returned.
        call_id: The LLM call that produced it (it is recorded and billed).
        validation_error: The underlying pydantic error, if validation ran.
    """

    def __init__(
        self,
        detail: str,
        *,
        content: str | None,
        call_id: str | None,
        validation_error: Exception | None = None,
    ) -> None:
        super().__init__(detail)
        self.content = content
        self.call_id = call_id
        self.validation_error = validation_error


_FORBIDDEN_BY_CODE: dict[str, type[PermissionDeniedError]] = {
    "team_suspended": TeamSuspendedError,
    "team_paused": TeamPausedError,
    "insufficient_credits": InsufficientCreditsError,
    "model_access_denied": ModelAccessDeniedError,
    "team_mismatch": TeamMismatchError,
    "key_budget_exceeded": KeyBudgetExceededError,
    "user_budget_exceeded": UserBudgetExceededError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - datetime.now(moment.tzinfo)).total_seconds())


def openai_error(body: Any) -> dict[str, Any] | None:
    """The ``error`` member of an OpenAI-shaped error body (the /v1 endpoints:
    ``{"error": {"message", "type", "param", "code"}}``), else None."""
    if isinstance(body, dict) and "detail" not in body:
        error = body.get("error")
        if isinstance(error, dict):
            return error
    return None


def error_from_response(response: httpx.Response) -> SaasLiteLLMError:
    """Build the typed error for a non-2xx response (its body must have been read)."""
    status = response.status_code
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: str
    code: str | None = None
    error = openai_error(body)
    if error is not None:
        detail = str(error.get("message") or response.reason_phrase or "Error")
        raw_code = error.get("code")
        code = str(raw_code) if raw_code is not None else None
    elif isinstance(body, dict):
        detail = str(body.get("detail") or response.reason_phrase or "Error")
        raw_code = body.get("code")
        code = str(raw_code) if raw_code is not None else None
    else:
        text = response.text.strip()
        detail = text[:500] if text else (response.reason_phrase or f"HTTP {status}")
    kwargs: dict[str, Any] = {"status_code": status, "code": code, "body": body}

    if status == 401:
        return AuthenticationError(detail, **kwargs)
    if status == 403:
        cls = _FORBIDDEN_BY_CODE.get(code or "", PermissionDeniedError)
        if issubclass(cls, BudgetExceededError):
            seconds = parse_retry_after(response.headers.get("Retry-After"))
            retry_after = None if seconds is None else math.ceil(seconds)
            return cls(detail, retry_after=retry_after, **kwargs)
        return cls(detail, **kwargs)
    if status == 404:
        return NotFoundError(detail, **kwargs)
    if status == 409:
        if code == "job_closed":
            return JobClosedError(detail, **kwargs)
        return ConflictError(detail, **kwargs)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimitError(detail, retry_after=retry_after, **kwargs)
    if status in (400, 422):
        return ValidationError(detail, **kwargs)
    if status == 504 or code == "provider_timeout":
        return ProviderTimeoutError(detail, **kwargs)
    if status == 502 or code == "provider_error":
        return ProviderError(detail, **kwargs)
    if status >= 500:
        return ServerError(detail, **kwargs)
    return SaasLiteLLMError(detail, **kwargs)
