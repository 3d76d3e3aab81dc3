"""The fast path: OpenAI-compatible providers called without litellm's per-call work.

litellm's per-call work (pydantic response objects, its stream wrapper, logging objects,
cost lookup) was a fifth of a worker's CPU and most of our streaming time-to-first-chunk
overhead. So a route whose litellm model string is `openai/<model>`, that has an
explicit api_base and a key, no mock_response, and whose model litellm does not rewrite
parameters for (o-series, gpt-5 family) is sent from here: one pooled
`aiohttp.ClientSession` per process and event loop, the OpenAI request body, the answer
(or each SSE `data:` line) parsed with the json module. aiohttp rather than httpx:
measured against the fake provider, a request and its answer cost 0.19 ms of CPU
through aiohttp and 0.79 ms through httpx's client. HTTP errors, and answers or
chunks that are not JSON objects, are mapped to the exception classes litellm would
raise, so `jobs.gateway` treats both paths alike; `jobs/tests/test_llm_passthrough.py`
pins the two to the same results (usage, cost, errors, tool calls, frames, faults).
Everything else stays on litellm.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import aiohttp
import httpx
import litellm
from django.conf import settings
from litellm import exceptions as litellm_errors

from jobs.routing import Route

logger = logging.getLogger(__name__)

PASSTHROUGH_USER_AGENT = "saas-litellm-passthrough/1"
_clients: dict[
    asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, AsyncIterator[None]]
] = {}
_clients_pid = os.getpid()
_clients_lock = threading.Lock()
# What litellm raises for an OpenAI-compatible provider's HTTP status (its
# `_map_openai_exception`); other statuses are an APIError with that status.
_STATUS_ERRORS: dict[int, type[Exception]] = {
    400: litellm_errors.BadRequestError,
    401: litellm_errors.AuthenticationError,
    404: litellm_errors.NotFoundError,
    408: litellm_errors.Timeout,
    422: litellm_errors.BadRequestError,
    429: litellm_errors.RateLimitError,
    500: litellm_errors.InternalServerError,
    502: litellm_errors.BadGatewayError,
    503: litellm_errors.ServiceUnavailableError,
    504: litellm_errors.Timeout,
}


def route_is_passthrough(route: Route) -> bool:
    """Whether this module calls the route's provider itself rather than litellm."""
    return (
        route.model.startswith("openai/")
        and bool(route.api_base)
        and bool(route.api_key)
        and not route.mock_response
        and not _model_rewritten_by_litellm(route.model)
    )


@lru_cache(maxsize=1024)
def _model_rewritten_by_litellm(model: str) -> bool:
    """Models whose parameters litellm translates (max_completion_tokens, …)."""
    name = model.split("/", 1)[1]
    try:
        return bool(
            litellm.OpenAIOSeriesConfig().is_model_o_series_model(name)
            or litellm.OpenAIGPT5Config.is_model_gpt_5_model(name)
        )
    except Exception:  # when in doubt, litellm knows best
        return True


async def _http_client() -> aiohttp.ClientSession:
    """The pooled session of this process's running event loop (made on first use:
    workers fork after the master's warm-up, and a session belongs to one loop)."""
    global _clients_pid
    loop = asyncio.get_running_loop()
    with _clients_lock:
        if _clients_pid != os.getpid():
            _clients.clear()
            _clients_pid = os.getpid()
        known = _clients.get(loop)
        if known is not None:
            return known[0]
        for old in [other for other in _clients if other.is_closed()]:
            del _clients[old]
        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )
        keeper = _closed_with_loop(client)
        _clients[loop] = (client, keeper)
    await keeper.__anext__()
    return client


async def _closed_with_loop(client: aiohttp.ClientSession) -> AsyncIterator[None]:
    """Closes the session's connections when its loop shuts down: the loop closes
    its async generators then (asyncio.run, asgiref and uvicorn all ask it to)."""
    try:
        yield
    finally:
        await client.close()


def _url_of(route: Route) -> str:
    return f"{(route.api_base or '').rstrip('/')}/chat/completions"


async def _post(route: Route, body: dict[str, Any]) -> aiohttp.ClientResponse:
    """The provider's chat completions request (`body` with the real model name),
    sent; its response's headers read."""
    client = await _http_client()
    timeout = settings.LLM_TIMEOUT_SECONDS
    return await client.post(
        _url_of(route),
        data=json.dumps(
            {**body, "model": route.model.split("/", 1)[1]}, separators=(",", ":")
        ).encode(),
        headers={
            "Authorization": f"Bearer {route.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": PASSTHROUGH_USER_AGENT,
        },
        # As httpx's Timeout(t): to connect (a pooled connection included), and
        # between two reads.
        timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout),
        allow_redirects=False,
    )


def _transport_error(exc: Exception, route: Route) -> Exception:
    """litellm's exception for a timeout or a connection failure (no message kept)."""
    provider, model = "openai", route.model
    if isinstance(exc, TimeoutError):
        return litellm_errors.Timeout(
            message="provider timed out", model=model, llm_provider=provider
        )
    return litellm_errors.APIConnectionError(
        message="provider connection failed", llm_provider=provider, model=model
    )


def _status_error(
    response: aiohttp.ClientResponse, content: bytes, route: Route
) -> Exception:
    status = response.status
    message = f"provider answered HTTP {status}"
    provider, model = "openai", route.model
    error = _STATUS_ERRORS.get(status)
    if error is litellm_errors.Timeout:
        return litellm_errors.Timeout(
            message=message, model=model, llm_provider=provider
        )
    if error is not None:
        # litellm's errors carry an httpx response (Retry-After is read from it).
        answer = httpx.Response(
            status,
            headers=list(response.headers.items()),
            content=content,
            request=httpx.Request("POST", _url_of(route)),
        )
        return error(
            message=message, llm_provider=provider, model=model, response=answer
        )
    return litellm_errors.APIError(
        status_code=status, message=message, llm_provider=provider, model=model
    )


async def send(route: Route, body: dict[str, Any], *, stream: bool) -> Any:
    """The provider's answer: its body (bytes), or an EventStream."""
    try:
        response = await _post(route, body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _transport_error(exc, route) from None
    if stream and response.ok:
        return EventStream(response, route)
    try:
        content = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        if response.ok:
            raise _transport_error(exc, route) from None
        content = b""  # an error's body: only its status matters
    finally:
        response.release()
    if not response.ok:
        raise _status_error(response, content, route)
    return content


def answer_malformed(route: Route) -> Exception:
    """litellm's error for an answer it cannot read (a 500: another route may do)."""
    return litellm_errors.InternalServerError(
        message="provider answer malformed", llm_provider="openai", model=route.model
    )


def stream_broken(route: Route, reason: str) -> Exception:
    """litellm's error for a stream that breaks or cannot be read: mid-stream
    errors are its MidStreamFallbackError, with the status of what broke (a 500
    for a lost connection or a malformed chunk)."""
    broke = litellm_errors.MidStreamFallbackError(
        message=f"provider stream broke: {reason}",
        model=route.model,
        llm_provider="openai",
    )
    broke.status_code = 500
    return broke


def json_of(content: bytes, route: Route) -> dict[str, Any]:
    """The provider's JSON object (litellm's 500 for anything else)."""
    try:
        body = json.loads(content)
    except ValueError:
        raise answer_malformed(route) from None
    if not isinstance(body, dict):
        raise answer_malformed(route)
    return body


class EventStream:
    """A provider's SSE body as parsed JSON chunks (async iterator), until [DONE]."""

    def __init__(self, response: aiohttp.ClientResponse, route: Route) -> None:
        self._response = response
        self._route = route
        self._chunks = self._read()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._chunks.__anext__()

    async def _read(self) -> AsyncIterator[dict[str, Any]]:
        buffer = b""
        done = started = False
        try:
            async for data in self._response.content.iter_any():
                if done:  # read to the end so the connection goes back to the pool
                    continue
                buffer += data
                while not done and (end := buffer.find(b"\n")) >= 0:
                    line, buffer = buffer[:end].rstrip(b"\r"), buffer[end + 1 :]
                    if not line.startswith(b"data:"):
                        continue  # blank separators, comments, event names
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                    elif payload:
                        chunk = self._chunk_of(payload)
                        if chunk.get("error"):
                            raise litellm_errors.APIError(
                                status_code=500,
                                message="provider error in the stream",
                                llm_provider="openai",
                                model=self._route.model,
                            )
                        started = True
                        yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not started:
                raise _transport_error(exc, self._route) from None
            if isinstance(exc, TimeoutError):
                # The same wait as the chunk timer in `_next_chunk`: its error.
                raise TimeoutError() from None
            # A connection lost mid-way: litellm's stream wrapper calls it so.
            raise stream_broken(self._route, "connection lost") from None

    def _chunk_of(self, payload: bytes) -> dict[str, Any]:
        """One `data:` line's chunk. litellm (the OpenAI SDK under it) fails a
        stream on a line that is not a JSON object, before or after the first
        chunk; so does this."""
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise stream_broken(self._route, "malformed chunk") from None
        if not isinstance(chunk, dict):
            raise stream_broken(self._route, "malformed chunk")
        return chunk

    async def aclose(self) -> None:
        try:
            await self._chunks.aclose()
        finally:
            # Read to its end: the connection goes back to the pool; else it is
            # closed, and the provider sees the stream abandoned.
            self._response.release()
