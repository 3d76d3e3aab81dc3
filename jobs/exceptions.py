"""Errors of the jobs app not covered by saas_litellm.exceptions."""

from __future__ import annotations

from saas_litellm.exceptions import ServiceError


class RequestTooLarge(ServiceError):
    """The body is over Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = 413
    detail = "Request body too large"
    code = "request_too_large"
