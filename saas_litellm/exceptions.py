"""Domain errors and the one place that turns them into HTTP responses.

Services raise the errors below; views never build error responses themselves. An
error is written in the dialect of the API family that answers it:
- native (`/api/…`): `{"detail": …, "code": …}`, validation errors add per-field
  `errors`;
- OpenAI (`/v1/…`): `{"error": {"message", "type", "param", "code"}}`;
- Anthropic (`/v1/messages…`): `{"type": "error", "error": {"type", "message"}}`.
Every body carries the request's id as `request_id` (inside OpenAI's `error`,
beside Anthropic's), as its `X-Request-Id` header does.
Each 4xx is logged once, here, at INFO (Django's own request log is quietened for
them in settings).
"""

from __future__ import annotations

import enum
import logging
import math
from http import HTTPStatus
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler

from saas_litellm.request_context import request_context_update, request_id_current

logger = logging.getLogger(__name__)


class Dialect(enum.Enum):
    NATIVE = "native"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class ServiceError(Exception):
    """Base of every domain error; subclasses set the status, detail and code."""

    status_code = 400
    detail = "Bad request"
    code: str | None = None

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail or self.detail
        self.code = code or self.code
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.code:
            body["code"] = self.code
        return body

    def headers(self) -> dict[str, str]:
        return {}


class InvalidInput(ServiceError):
    status_code = 400
    detail = "Invalid request"
    code = "invalid_request"


class ParamInvalid(InvalidInput):
    """A 400 naming the request field at fault (OpenAI's `param`)."""

    def __init__(self, detail: str, *, param: str | None) -> None:
        super().__init__(detail)
        self.param = param


class ParamUnsupported(ParamInvalid):
    """A parameter the model's provider cannot take (refused, never dropped)."""

    code = "unsupported_parameter"


class RequestInvalid(InvalidInput):
    """A 400 whose detail names the first problem and whose `errors` lists them all;
    `param` is the first field at fault (OpenAI's `param`)."""

    def __init__(self, errors: dict[str, Any] | list[Any]) -> None:
        self.errors = errors
        self.param = _first_field(errors)
        self.problem = _first_problem(errors)
        super().__init__(f"Invalid request: {self.problem}")

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


def _first_problem(errors: Any, path: str = "") -> str:
    if isinstance(errors, dict) and errors:
        field, value = next(iter(errors.items()))
        label = "body" if field == "non_field_errors" else field
        return _first_problem(value, f"{path}.{label}" if path else label)
    if isinstance(errors, list) and errors:
        return _first_problem(errors[0], path)
    return f"{path}: {errors}" if path else str(errors)


def _first_field(errors: Any) -> str | None:
    if isinstance(errors, dict) and errors:
        field = next(iter(errors))
        return None if field == "non_field_errors" else str(field)
    return None


class RequestTooLarge(ServiceError):
    """The body is over Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = 413
    detail = "Request body too large"
    code = "request_too_large"


class DatabaseUnavailable(ServiceError):
    """The database did not answer in time (connection refused or timed out, the
    pool's wait over) or dropped the connection. Retrying is the client's best move;
    settings keep the connect and pool timeouts short so this comes fast."""

    status_code = 503
    detail = "Database unavailable, retry shortly"
    code = "database_unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "2"}


class Unauthenticated(ServiceError):
    """A missing, malformed, unknown, revoked or expired key (401)."""

    status_code = 401
    detail = "Invalid or missing API key"
    code = "invalid_api_key"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class MethodRefused(ServiceError):
    status_code = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(f'Method "{method}" not allowed.')
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allowed}


class NotFound(ServiceError):
    status_code = 404
    detail = "Not found"
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    detail = "Conflict"
    code = "conflict"


class TeamMismatch(ServiceError):
    status_code = 403
    code = "team_mismatch"

    def __init__(self, team_id: str) -> None:
        super().__init__(f"API key does not belong to team '{team_id}'")


class TeamCannotWork(ServiceError):
    """Work refused because of the team's status or credits (same detail for all)."""

    status_code = 403
    detail = "Team suspended or insufficient credits"


class TeamSuspended(TeamCannotWork):
    code = "team_suspended"


class TeamPaused(TeamCannotWork):
    code = "team_paused"


class InsufficientCredits(TeamCannotWork):
    code = "insufficient_credits"


class BudgetExceeded(ServiceError):
    """A key's or an end user's budget inside the team has no room for the work;
    `retry_after`: seconds until its period starts again (None: no period)."""

    status_code = 403

    def __init__(self, *, retry_after: float | None = None) -> None:
        super().__init__()
        self.retry_after = (
            None if retry_after is None else max(1, math.ceil(retry_after))
        )

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self.retry_after)}


class KeyBudgetExceeded(BudgetExceeded):
    detail = "Key budget exceeded"
    code = "key_budget_exceeded"


class UserBudgetExceeded(BudgetExceeded):
    detail = "End-user budget exceeded"
    code = "user_budget_exceeded"


class ModelAccessDenied(ServiceError):
    status_code = 403
    detail = "Team does not have access to the requested model"
    code = "model_access_denied"


class JobClosed(Conflict):
    detail = "Job is already closed"
    code = "job_closed"


class OneCallJob(Conflict):
    detail = (
        "This job was opened by its one call (create-and-call, or /v1 without"
        " X-Job-Id) and takes no other call"
    )
    code = "one_call_job"


class IdempotencyMismatch(ServiceError):
    status_code = 422
    detail = "Idempotency-Key was already used with a different request"
    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    detail = "A request with this Idempotency-Key is still being processed"
    code = "idempotency_in_progress"


class RateLimited(ServiceError):
    status_code = 429
    detail = "Rate limit exceeded"
    code = "rate_limited"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ProviderError(ServiceError):
    status_code = 502
    detail = "LLM call failed"
    code = "provider_error"


class ServerShuttingDown(ProviderError):
    """A call still open when its worker had to stop (SIGTERM, then the graceful
    timeout): cut, recorded, and billed only for what it streamed."""

    status_code = 503
    detail = (
        "The server restarted during this call: it was cut and billed only for what"
        " it streamed; retry"
    )
    code = "server_shutting_down"


class ProviderTimeout(ProviderError):
    status_code = 504
    detail = "LLM call timed out"
    code = "provider_timeout"


class ProviderRejected(ProviderError):
    """The provider refused the request itself (its 400): the client's to fix. The
    provider's message is not passed on (it may name the real model)."""

    status_code = 400
    detail = (
        "The model provider rejected the request (check messages, tools and parameters)"
    )
    code = "provider_rejected_request"


class DeploymentsUnavailable(ServiceError):
    """Every deployment the request could reach is cooling down after failures or
    at its own rpm/tpm cap: nothing was sent and nothing charged."""

    status_code = 503
    detail = "The model is temporarily unavailable; retry after the time given"
    code = "model_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: float = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, math.ceil(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ContextWindowExceeded(InvalidInput):
    code = "context_window_exceeded"


def _field_errors(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(item) for item in detail]
    return str(detail)


def service_error_of(exc: BaseException) -> ServiceError | None:
    """The domain error an exception stands for: one of ours, or invalid input.

    Shared by the DRF handler and the async views, so every endpoint answers alike.
    """
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return NotFound()
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return RequestInvalid(exc.message_dict)
        return RequestInvalid({"non_field_errors": exc.messages})
    if isinstance(exc, drf.ValidationError):
        return RequestInvalid(_field_errors(exc.detail))
    if isinstance(exc, drf.AuthenticationFailed | drf.NotAuthenticated):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else None
        return Unauthenticated(str(exc.detail), code=code)
    return None


# OpenAI's and Anthropic's error `type` for each status.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "unprocessable_entity_error",
    429: "rate_limit_error",
}
# Anthropic's own: a gateway timeout is its `timeout_error` (504), an overloaded or
# unavailable service its `overloaded_error` (529, and our 503), any other 5xx
# `api_error`.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(
    error: ServiceError, dialect: Dialect = Dialect.NATIVE
) -> dict[str, Any]:
    status = error.status_code
    request_id = {"request_id": rid} if (rid := request_id_current()) else {}
    if dialect is Dialect.OPENAI:
        return {
            "error": {
                "message": getattr(error, "problem", error.detail),
                "type": _OPENAI_TYPES.get(status, "api_error"),
                "param": getattr(error, "param", None),
                "code": error.code,
                **request_id,
            }
        }
    if dialect is Dialect.ANTHROPIC:
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        message = getattr(error, "problem", error.detail)
        return {
            "type": "error",
            "error": {"type": kind, "message": message},
            **request_id,
        }
    return {**error.body(), **request_id}


def _logged(error: ServiceError, request: HttpRequest | None) -> None:
    request_context_update(error_code=error.code)  # for the access log and metrics
    if error.status_code < 500:
        path = request.path if request is not None else "-"
        logger.info(
            "%s %s: %s (%s)", error.status_code, path, error.detail, error.code or "-"
        )


def error_response(
    error: ServiceError,
    dialect: Dialect = Dialect.NATIVE,
    request: HttpRequest | None = None,
) -> JsonResponse:
    """The HTTP response of a domain error, in the endpoint's dialect."""
    _logged(error, request)
    return JsonResponse(
        error_body(error, dialect), status=error.status_code, headers=error.headers()
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: one error shape for the whole native API."""
    request = getattr(context.get("request"), "_request", None)
    if isinstance(exc, drf.AuthenticationFailed | drf.NotAuthenticated):
        # DRF's handler adds WWW-Authenticate from the view's authenticators.
        response = exception_handler(exc, context)
        error = service_error_of(exc)
        if response is not None and error is not None:
            _logged(error, request)
            response.data = error_body(error)
        return response
    if (error := service_error_of(exc)) is not None:
        _logged(error, request)
        return Response(
            error_body(error), status=error.status_code, headers=error.headers()
        )
    if isinstance(exc, drf.ParseError):
        error = InvalidInput(f"Malformed request body: {exc.detail}")
        _logged(error, request)
        return Response(error_body(error), status=error.status_code)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        body: dict[str, Any] = {"detail": str(response.data.get("detail", exc))}
        codes = exc.get_codes() if isinstance(exc, drf.APIException) else None
        if isinstance(codes, str):
            body["code"] = codes
        if request_id := request_id_current():
            body["request_id"] = request_id
        response.data = body
        if request is not None:
            logger.info("%s %s: %s", response.status_code, request.path, body["detail"])
    return response


def dialect_of(request: HttpRequest) -> Dialect:
    if request.path.startswith("/v1/messages"):
        return Dialect.ANTHROPIC
    if request.path.startswith("/v1/"):
        return Dialect.OPENAI
    return Dialect.NATIVE


def json_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    """handler404 for paths outside DRF views: API clients always get JSON, in the
    dialect of the path's API family."""
    path_error = NotFound(f"Unknown path {request.path[:200]}")
    if dialect_of(request) is Dialect.NATIVE:
        path_error = NotFound()
    return error_response(path_error, dialect_of(request), request)


def json_server_error(request: HttpRequest) -> JsonResponse:
    error = ServiceError("Internal server error")
    error.status_code = HTTPStatus.INTERNAL_SERVER_ERROR
    error.code = "internal_error"
    return JsonResponse(
        error_body(error, dialect_of(request)), status=error.status_code
    )
