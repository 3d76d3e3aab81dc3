"""What the async and the sync client share: configuration, request building and
the retry decisions. No I/O happens here; each client only sends and sleeps."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from ._calls import Call
from ._version import __version__
from .errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    SaasLiteLLMError,
    error_from_response,
)

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
class Retries:
    """The retry decisions for one request: how long to wait, or the error to raise."""

    policy: RetryPolicy
    idempotent: bool
    attempt: int = 0

    def after_exception(self, exc: httpx.TransportError) -> float:
        """Seconds to wait after a transport error; raises it when it is final."""
        delay = self.policy.delay_after_exception(
            exc, attempt=self.attempt, idempotent=self.idempotent
        )
        if delay is None:
            raise transport_error(exc) from exc
        self.attempt += 1
        return delay

    def after_response(self, response: httpx.Response) -> float:
        """Seconds to wait after an error response; raises its error when final."""
        error = error_from_response(response)
        delay = self.policy.delay_after_error(
            error, attempt=self.attempt, idempotent=self.idempotent
        )
        if delay is None:
            raise error
        self.attempt += 1
        return delay


HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)


class ClientBase(Generic[HttpClientT]):
    """Configuration and request building shared by both clients; each subclass
    sends through its own httpx client (``httpx.AsyncClient`` or ``httpx.Client``)."""

    def __init__(
        self,
        base_url: str,
        team_id: str,
        virtual_key: str,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        retry_backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http_client: HttpClientT | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, e.g. 'http://localhost:8003'")
        if not team_id:
            raise ValueError("team_id is required")
        if not virtual_key:
            raise ValueError("virtual_key is required")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        # The guide's API_URL ends in /api; accept it as well as the bare host.
        self._base_url = base_url.rstrip("/").removesuffix("/api")
        self._team_id = team_id
        self._timeout = (
            timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        )
        self._retry = RetryPolicy(
            max_retries=max_retries,
            backoff=retry_backoff,
            backoff_max=retry_backoff_max,
            max_retry_after=max_retry_after,
        )
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"saas-litellm-client/{__version__}",
            **(headers or {}),
            "Authorization": f"Bearer {virtual_key}",
        }
        self._owns_http = http_client is None
        self._http: HttpClientT = http_client or self._new_http_client()

    def _new_http_client(self) -> HttpClientT:
        """The httpx client to use when the caller passed none."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The server root the client talks to."""
        return self._base_url

    @property
    def team_id(self) -> str:
        """The team this client acts for."""
        return self._team_id

    def __repr__(self) -> str:
        # Never show the key.
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, "
            f"team_id={self._team_id!r})"
        )

    def _build_request(self, call: Call[Any], *, stream: bool) -> httpx.Request:
        """The httpx request for a call."""
        headers = {**self._headers, **(call.headers or {})}
        if stream:
            headers["Accept"] = "text/event-stream"
        return self._http.build_request(
            call.method,
            self._base_url + call.path,
            json=call.json,
            params=call.params,
            headers=headers,
            timeout=self._timeout,
        )

    def _retries(self, call: Call[Any]) -> Retries:
        """The retry decisions for one send of ``call``."""
        return Retries(self._retry, idempotent=call.idempotent)
