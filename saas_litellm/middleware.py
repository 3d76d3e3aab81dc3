"""Middleware without thread hops on the API's requests under ASGI.

First RequestContextMiddleware (request ids, the access log, HTTP metrics), then
WhiteNoise, then Django's own middleware, then RequestGuardMiddleware (ours).

WhiteNoise's middleware is synchronous only, so under ASGI Django ran every request
(API calls included) through a worker thread to pass it, and back to the event loop
for the async views: two context switches per request on the LLM hot path. This
subclass answers in the event loop and uses a thread only to serve a static file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import FileResponse, HttpRequest, HttpResponseBase, JsonResponse
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from saas_litellm import metrics
from saas_litellm.exceptions import (
    DatabaseUnavailable,
    InvalidInput,
    RequestTooLarge,
    ServiceError,
    dialect_of,
    error_response,
)
from saas_litellm.logs import access_log
from saas_litellm.request_context import (
    REQUEST_ID_HEADER,
    RequestContext,
    request_context_open,
)

logger = logging.getLogger(__name__)


# --- Request ids, the access log and HTTP metrics ---------------------------------


class RequestContextMiddleware:
    """First of all: opens the request's context (saas_litellm.request_context),
    answers with its `X-Request-Id`, and once the response is sent, counts it
    (saas_litellm.metrics) and writes its access line (saas_litellm.logs).

    A stream is counted when its last byte is sent, so that its duration and the
    credits it was charged are known; its body is sent after this middleware
    returns, in the same task (ASGI) or thread (WSGI). Runs on the event loop
    under ASGI: no thread hop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        started = time.monotonic()
        context = request_context_open(request)
        return _answered(context, self.get_response(request), started)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        context = request_context_open(request)
        return _answered(context, await self.get_response(request), started)


def _answered(
    context: RequestContext, response: HttpResponseBase, started: float
) -> HttpResponseBase:
    response[REQUEST_ID_HEADER] = context.request_id

    def done() -> None:
        seconds = time.monotonic() - started
        status = response.status_code
        metrics.http_request_observed(
            context.request,
            status=status,
            seconds=seconds,
            error_code=context.error_code,
        )
        access_log(context, status=status, seconds=seconds)

    if not response.streaming or isinstance(response, FileResponse):
        done()  # a static file: counted when its headers go
    elif response.is_async:  # type: ignore[attr-defined]
        response.streaming_content = _async_sent(response.streaming_content, done)  # type: ignore[attr-defined]
    else:
        response.streaming_content = _sync_sent(response.streaming_content, done)  # type: ignore[attr-defined]
    return response


async def _async_sent(
    content: AsyncIterator[bytes], done: Callable[[], None]
) -> AsyncIterator[bytes]:
    """`content`, then `done()`: at its end, or when the client went away."""
    try:
        async for part in content:
            yield part
    finally:
        done()


def _sync_sent(content: Iterable[bytes], done: Callable[[], None]) -> Iterator[bytes]:
    try:
        yield from content
    finally:
        done()


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._is_async:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_file(self, request: HttpRequest) -> Any:
        if self.autorefresh:
            return self.find_file(request.path_info)
        return self.files.get(request.path_info)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            static_file = await sync_to_async(self._static_file)(request)
        else:
            static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


# --- Django's own middleware, without thread hops on the API ----------------------
# Under ASGI, Django's MiddlewareMixin runs each synchronous hook through
# sync_to_async: two thread hops per middleware per request, and one more for each
# process_view. With the default stack that was about a dozen hops before an LLM
# call could start. Hooks that do no I/O now run on the event loop; the middleware
# that exists for the browser pages (sessions, login, CSRF cookies, messages) is
# skipped by the API, whose callers authenticate with keys and never with cookies.

API_PATH_PREFIXES = ("/v1/", "/api/")


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PATH_PREFIXES)


class InlineHooksMixin:
    """For middleware whose process_request/process_response do no I/O: under
    ASGI they run on the event loop instead of in a worker thread."""

    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class BrowserOnlyMixin:
    """For middleware only the browser pages need: API requests pass through it
    without a hook (and without a thread hop) under ASGI."""

    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_request(request):
            return await self.get_response(request)
        return await super().__acall__(request)  # type: ignore[misc]


class SecurityMiddleware(InlineHooksMixin, security.SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooksMixin, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(InlineHooksMixin, clickjacking.XFrameOptionsMiddleware):
    pass


class SessionMiddleware(BrowserOnlyMixin, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnlyMixin, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnlyMixin, messages.MessageMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnlyMixin, csrf.CsrfViewMiddleware):
    """Also its process_view: Django would run it in a thread for every request
    under ASGI; API requests skip it, and for the others it does no I/O when the
    token is in a cookie (the body is already read). With CSRF_USE_SESSIONS the
    token is in the session, read from the database: then it runs in a thread."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            self.process_view = self._process_view_async

    async def _process_view_async(
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        if is_api_request(request):
            return None
        check = super().process_view
        if settings.CSRF_USE_SESSIONS:
            return await sync_to_async(check)(request, callback, args, kwargs)
        return check(request, callback, args, kwargs)


# --- Failures of our own, answered fast and in JSON ------------------------------


def _error_response(request: HttpRequest, error: ServiceError) -> JsonResponse:
    return error_response(error, dialect_of(request), request)


class RequestGuardMiddleware(InlineHooksMixin, MiddlewareMixin):
    """JSON answers, in the path's dialect, for failures no view gets to handle.

    - A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 `request_too_large` before
      any view or middleware reads it. Like Django, it goes by Content-Length (the
      check covers multipart bodies whole: the API takes no uploads). DRF reads the
      stream itself and would not apply the limit at all.
    - django.db.OperationalError out of a view (the psycopg pool's timeout among
      them) is a 503 `database_unavailable` rather than a 500. Deadlocks and
      serialization failures are OperationalErrors too: a retry is right for them.

    process_request does no I/O and runs on the event loop (InlineHooksMixin);
    Django runs process_exception in a thread, only when a view raised.
    """

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error_response(request, InvalidInput("Invalid Content-Length"))
        if limit is not None and length > limit:
            return _error_response(request, RequestTooLarge())
        return None

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        if isinstance(exception, RequestDataTooBig):
            return _error_response(request, RequestTooLarge())
        if isinstance(exception, OperationalError):
            logger.warning(
                "503 %s %s: database unavailable: %s",
                request.method,
                request.path,
                exception,
            )
            return _error_response(request, DatabaseUnavailable())
        return None
