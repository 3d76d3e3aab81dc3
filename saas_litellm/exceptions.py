"""Domain errors and the one place that turns them into HTTP responses.

Services raise the errors below; views never build error responses themselves. Every
error body is `{"detail": …}` plus `"code"` where the contract lists one, and validation
errors add per-field `errors`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler


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


class RequestInvalid(InvalidInput):
    """A 400 whose detail names the first problem and whose `errors` lists them all."""

    def __init__(self, errors: dict[str, Any] | list[Any]) -> None:
        self.errors = errors
        super().__init__(f"Invalid request: {_first_problem(errors)}")

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


class ModelAccessDenied(ServiceError):
    status_code = 403
    detail = "Team does not have access to the requested model"
    code = "model_access_denied"


class JobClosed(Conflict):
    detail = "Job is already closed"
    code = "job_closed"


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


class ProviderTimeout(ProviderError):
    status_code = 504
    detail = "LLM call timed out"
    code = "provider_timeout"


def _field_errors(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(item) for item in detail]
    return str(detail)


def service_error_of(exc: Exception) -> ServiceError | None:
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
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: one error shape for the whole API."""
    if (error := service_error_of(exc)) is not None:
        return Response(error.body(), status=error.status_code, headers=error.headers())
    if isinstance(exc, drf.ParseError):
        return Response({"detail": f"Malformed request body: {exc.detail}"}, status=400)
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict):
        response.data = {"detail": str(response.data.get("detail", exc))}
    return response


def json_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    """handler404 for paths outside DRF views: API clients always get JSON."""
    return JsonResponse({"detail": "Not found", "code": "not_found"}, status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Internal server error"}, status=500)
