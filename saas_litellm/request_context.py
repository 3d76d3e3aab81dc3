"""The request being answered: its id, and who called what, for logs and metrics.

`saas_litellm.middleware.RequestContextMiddleware` opens a RequestContext for every
request and keeps it in a contextvar; the request id comes from the client's
`X-Request-Id` when it is sane, else it is made here. Whatever answers the request
fills the rest with one call of `request_context_update`: the key's authentication
(team and key id), the pipeline (the alias after admission, the credits after
settlement), the error mapping (the error's code). The access log and the error
bodies read it back.

Under ASGI every request runs in its own task, so its own copy of the context;
`sync_to_async` carries the context into the database thread, and since the
RequestContext object itself is shared, what a thread writes into it is seen by
the event loop. A stream's body is sent after the middleware has returned, in the
same task, so the context stays set until the task ends.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

REQUEST_ID_HEADER = "X-Request-Id"
# A client's id is kept when it is 1-128 printable ASCII characters without spaces;
# anything else (too long, control characters, non-ASCII) is replaced, so that ids
# cannot be used to forge log lines or bloat them.
_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass
class RequestContext:
    """What the logs and metrics may know about one request. Never a key, a prompt
    or a provider secret: `key_id` is the key's public id."""

    request_id: str
    request: HttpRequest | None = None
    team_id: str | None = None
    key_id: str | None = None
    alias: str | None = None
    credits_charged: int | None = None
    error_code: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar(
    "request_context", default=None
)


def request_id_of(candidate: str | None) -> str:
    """The client's id if it is sane, else a new one (32 hex characters)."""
    if candidate and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def request_context_open(request: HttpRequest) -> RequestContext:
    """A new context for `request`, current from now on in this task or thread."""
    context = RequestContext(
        request_id=request_id_of(request.headers.get(REQUEST_ID_HEADER)),
        request=request,
    )
    _current.set(context)
    return context


def request_context() -> RequestContext | None:
    """The current request's context (None outside a request)."""
    return _current.get()


def request_context_update(**fields: Any) -> None:
    """Note facts about the current request (no-op outside a request)."""
    context = _current.get()
    if context is not None:
        for name, value in fields.items():
            setattr(context, name, value)


def request_id_current() -> str | None:
    context = _current.get()
    return context.request_id if context is not None else None


def route_of(request: HttpRequest | None) -> str:
    """The URL pattern that answered `request` (`api/jobs/<str:job_id>`), never
    the raw path, so that it is a bounded label; `unmatched` for the catch-all
    404, static files and anything answered before URL resolution."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name == "not-found" or not match.route:
        return "unmatched"
    return match.route
