"""The LLM gateway: the only module that imports litellm.

`route_plan` turns the alias a team asked for into an ordered list of routes (the alias
and its fallbacks): a litellm model string, the provider credential decrypted in memory
and an optional api_base. `completion_run` and `completion_stream_open` try the routes
in order, moving on only when a provider fails with a retryable error (429, 5xx,
timeout, connection error). Failures come back as ProviderError / ProviderTimeout,
whose client-facing detail never carries the provider's message; `internal` holds a
sanitized description (exception class, status, route) for the LLMCall row.

Pass-through for OpenAI-compatible providers: litellm's per-call work (pydantic
response objects, its stream wrapper, logging objects, cost lookup) was a fifth of a
worker's CPU and most of our streaming time-to-first-chunk overhead. So a route whose
litellm model string is `openai/<model>`, that has an explicit api_base and a key, no
mock_response, and whose model litellm does not rewrite parameters for (o-series,
gpt-5 family) is sent by this module itself: one pooled `httpx.AsyncClient` per process
and event loop, the OpenAI request body, the answer (or each SSE `data:` line) parsed
with the json module into the same Completion / chunk dicts litellm's path produces.
HTTP errors are mapped to the litellm exception classes litellm would raise, so the
fallback rules, the client-facing errors and the `internal` description are the same.
Everything else (Anthropic, Gemini, Azure, mock_response, openai/ without api_base)
stays on litellm. `route_is_passthrough` tells which path a route takes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from saas_litellm.exceptions import ModelAccessDenied, ProviderError, ProviderTimeout
from teams.keys import credential_decrypt
from teams.models import ModelAlias, ProviderCredential, Team

# litellm must never fetch its price table (or tokenizers) from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import httpx
import litellm
import openai
from litellm import exceptions as litellm_errors

litellm.telemetry = False
litellm.suppress_debug_info = True
# Parameters a provider does not support are dropped rather than failing the call:
# the team asked for an alias, not for a provider's quirks.
litellm.drop_params = True
litellm.success_callback = []
litellm.failure_callback = []
litellm.callbacks = []

logger = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_TOKENS = 4096
PER_MILLION = Decimal(1_000_000)
RETRYABLE_STATUS = {408, 409, 425, 429}


@dataclass(frozen=True)
class Route:
    """One way to answer an alias. `api_key` is plaintext: keep it in memory only."""

    alias: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    mock_response: str | None = None
    pricing_input: Decimal | None = None
    pricing_output: Decimal | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class CallParams:
    """What the team asked for, already validated."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None

    def provider_kwargs(self) -> dict[str, Any]:
        names = (
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "response_format",
            "tools",
            "tool_choice",
        )
        kwargs = {name: getattr(self, name) for name in names}
        return {name: value for name, value in kwargs.items() if value is not None}


@dataclass
class Completion:
    """The outcome of a successful call, in the team's terms plus our cost."""

    route: Route
    content: str | None = None
    finish_reason: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    # The same wait as latency_ms, unrounded (the /v1 overhead header subtracts it).
    provider_seconds: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def provider_cost_usd(self) -> Decimal:
        return call_cost_usd(
            route=self.route,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


# --- Routing ----------------------------------------------------------------------


def _alias_allowed(team: Team, alias_name: str) -> ModelAlias | None:
    return (
        ModelAlias.objects.select_related("credential")
        .filter(
            model_alias=alias_name,
            is_active=True,
            access_groups__is_active=True,
            access_groups__teams=team,
        )
        .distinct()
        .first()
    )


def _credential_for(alias: ModelAlias, team: Team) -> ProviderCredential | None:
    """The alias's own credential, else the organization's, else a global one."""
    if alias.credential_id is not None:
        return alias.credential if alias.credential.is_active else None
    candidates = ProviderCredential.objects.filter(
        Q(organization_id=team.organization_id) | Q(organization__isnull=True),
        provider=alias.provider,
        is_active=True,
    ).order_by("organization_id", "credential_name")
    # Non-null organization (the team's own) sorts first on PostgreSQL and SQLite.
    own = [c for c in candidates if c.organization_id is not None]
    return own[0] if own else next(iter(candidates), None)


def _route_for(alias: ModelAlias, team: Team) -> Route:
    credential = _credential_for(alias, team)
    api_key = None
    if credential is not None and credential.encrypted_api_key:
        try:
            api_key = credential_decrypt(credential.encrypted_api_key)
        except ValueError:
            logger.error("credential %s cannot be decrypted", credential.credential_id)
    api_base = alias.api_base or (credential.api_base if credential else "") or None
    return Route(
        alias=alias.model_alias,
        model=alias.actual_model,
        api_key=api_key,
        api_base=api_base,
        mock_response=alias.mock_response or None,
        pricing_input=alias.pricing_input,
        pricing_output=alias.pricing_output,
        max_output_tokens=alias.max_output_tokens,
    )


# (team, its organization, alias) -> (catalogue version, routes), per process. An
# entry is used only while the version read with the caller's key is the one it
# was built under.
_route_plans: dict[tuple[int, int, str], tuple[int, tuple[Route, ...]]] = {}
_ROUTE_PLANS_MAX = 10_000


def route_plan(*, team: Team, alias_name: str) -> list[Route]:
    """The alias (if the team may use it) followed by its active fallbacks.

    An unknown alias and a forbidden one get the same ModelAccessDenied, so a team
    cannot enumerate the catalogue. Fallbacks are the operator's choice and need not
    be in the team's access groups, but inactive ones are skipped. When the team
    carries the catalogue version (authentication reads it), a plan built under
    the same version is reused: no catalogue change can have happened since.
    """
    version = team.catalogue_version
    if version is None or connection.vendor != "postgresql":  # no triggers elsewhere
        return _route_plan_build(team, alias_name)
    key = (team.pk, team.organization_id, alias_name)
    cached = _route_plans.get(key)
    if cached is not None and cached[0] == version:
        return list(cached[1])
    routes = _route_plan_build(team, alias_name)
    if len(_route_plans) >= _ROUTE_PLANS_MAX:
        _route_plans.clear()
    _route_plans[key] = (version, tuple(routes))
    return routes


def _route_plan_build(team: Team, alias_name: str) -> list[Route]:
    alias = _alias_allowed(team, alias_name)
    if alias is None:
        raise ModelAccessDenied()
    routes = [_route_for(alias, team)]
    names = [name for name in alias.fallbacks or [] if isinstance(name, str)]
    fallbacks = {
        a.model_alias: a
        for a in ModelAlias.objects.select_related("credential").filter(
            model_alias__in=names, is_active=True
        )
    }
    for name in dict.fromkeys(names):
        if name in fallbacks and name != alias.model_alias:
            routes.append(_route_for(fallbacks[name], team))
    return routes


# --- Prices and estimates -------------------------------------------------------------


def call_cost_usd(
    *, route: Route, prompt_tokens: int, completion_tokens: int
) -> Decimal:
    """Provider cost: the alias's own prices, else litellm's price table, else 0."""
    if route.pricing_input is not None or route.pricing_output is not None:
        return (
            Decimal(prompt_tokens) * (route.pricing_input or Decimal(0))
            + Decimal(completion_tokens) * (route.pricing_output or Decimal(0))
        ) / PER_MILLION
    return _table_cost_usd(route.model, prompt_tokens, completion_tokens)


@lru_cache(maxsize=4096)
def _table_cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """litellm's price for these exact figures (cached: the lookup is costly)."""
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
    except Exception:  # unknown to litellm's table: no price known
        return Decimal(0)
    return Decimal(str(prompt_cost)) + Decimal(str(completion_cost))


def prompt_tokens_estimate(*, model: str, messages: list[dict[str, Any]]) -> int:
    """Tokens of the prompt, by litellm's tokenizer or, failing that, 1 per 4 chars."""
    try:
        return int(litellm.token_counter(model=model, messages=messages))
    except Exception:
        return math.ceil(len(json.dumps(messages)) / 4)


def text_tokens_estimate(text: str) -> int:
    return math.ceil(len(text) / 4)


def output_tokens_limit(route: Route) -> int:
    return min(
        route.max_output_tokens or settings.LLM_MAX_TOKENS_LIMIT,
        settings.LLM_MAX_TOKENS_LIMIT,
    )


def call_worst_case(*, routes: list[Route], params: CallParams) -> tuple[int, Decimal]:
    """The most tokens and provider cost one call could use, over all its routes."""
    prompt = prompt_tokens_estimate(model=routes[0].model, messages=params.messages)
    tokens, cost = 0, Decimal(0)
    for route in routes:
        output = params.max_tokens or min(
            route.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
            output_tokens_limit(route),
        )
        tokens = max(tokens, prompt + output)
        cost = max(
            cost,
            call_cost_usd(route=route, prompt_tokens=prompt, completion_tokens=output),
        )
    return tokens, cost


# --- Calling --------------------------------------------------------------------------


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, asyncio.TimeoutError | litellm_errors.Timeout):
        return True
    if isinstance(exc, litellm_errors.APIConnectionError | openai.APIConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status >= 500 or status in RETRYABLE_STATUS)


def _is_timeout(exc: Exception) -> bool:
    return isinstance(exc, asyncio.TimeoutError | litellm_errors.Timeout)


def _sanitized(exc: Exception, route: Route) -> str:
    """Class name and status only: provider messages may echo keys or model names."""
    status = getattr(exc, "status_code", None)
    described = type(exc).__name__ + (f" status={status}" if status else "")
    return f"{described} (alias {route.alias})"


def _failure(exc: Exception, route: Route, tried: list[str]) -> ProviderError:
    error = ProviderTimeout() if _is_timeout(exc) else ProviderError()
    error.internal = "; ".join([*tried, _sanitized(exc, route)])  # type: ignore[attr-defined]
    return error


def _request_kwargs(
    route: Route, params: CallParams, *, stream: bool
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": route.model,
        "messages": params.messages,
        "timeout": settings.LLM_TIMEOUT_SECONDS,
        "num_retries": 0,
        "max_retries": 0,
        **params.provider_kwargs(),
    }
    if route.api_key:
        kwargs["api_key"] = route.api_key
    if route.api_base:
        kwargs["api_base"] = route.api_base
    if route.mock_response:
        kwargs["mock_response"] = route.mock_response
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def _tool_calls(message: Any) -> list[dict[str, Any]] | None:
    calls = getattr(message, "tool_calls", None)
    if not calls:
        return None
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {
                "name": call.function.name,
                "arguments": call.function.arguments,
            },
        }
        for call in calls
    ]


def _completion_of(
    response: Any, route: Route, params: CallParams, started: float
) -> Completion:
    choice = response.choices[0]
    usage = getattr(response, "usage", None)
    if usage:
        prompt_tokens = usage.prompt_tokens or 0
        completion_tokens = usage.completion_tokens or 0
    else:
        prompt_tokens = prompt_tokens_estimate(
            model=route.model, messages=params.messages
        )
        completion_tokens = text_tokens_estimate(choice.message.content or "")
    waited = time.monotonic() - started
    return Completion(
        route=route,
        content=choice.message.content,
        finish_reason=choice.finish_reason or "",
        tool_calls=_tool_calls(choice.message),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=int(waited * 1000),
        provider_seconds=waited,
    )


async def completion_run(*, routes: list[Route], params: CallParams) -> Completion:
    """One non-streamed completion, through the fallbacks when a provider fails."""
    tried: list[str] = []
    started = time.monotonic()
    for position, route in enumerate(routes):
        try:
            if route_is_passthrough(route):
                call = _passthrough_run(route, params)
            else:
                call = litellm.acompletion(
                    **_request_kwargs(route, params, stream=False)
                )
            response = await asyncio.wait_for(
                call, timeout=settings.LLM_TIMEOUT_SECONDS + 1
            )
        except Exception as exc:
            last = position == len(routes) - 1
            if last or not _is_retryable(exc):
                raise _failure(exc, route, tried) from None
            tried.append(_sanitized(exc, route))
            continue
        try:
            if isinstance(response, httpx.Response):
                return _completion_of_json(response, route, params, started)
            return _completion_of(response, route, params, started)
        except Exception as exc:  # a malformed answer is the provider's failure
            raise _failure(exc, route, tried) from None
    raise ProviderError()  # pragma: no cover - routes is never empty


@dataclass(frozen=True)
class _Usage:
    """A pass-through stream's usage chunk, read like litellm's Usage."""

    prompt_tokens: int
    completion_tokens: int


def _without_none(value: Any) -> Any:
    """What pydantic's `model_dump(exclude_none=True)` leaves of a parsed chunk."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


@dataclass
class Stream:
    """An open provider stream: chunks as the provider sends them, usage at the end.

    `frames()` yields OpenAI chunk dicts with `model` set to the alias; afterwards
    `completion()` holds the usage (the provider's, or an estimate from the text when
    the stream was cut before the provider sent it). Chunks are litellm's objects, or
    on the pass-through path the provider's JSON chunks as dicts.
    """

    route: Route
    params: CallParams
    response: Any
    first: Any
    started: float
    text: list[str] = field(default_factory=list)
    usage: Any = None
    finish_reason: str = ""
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def _frame(self, chunk: Any) -> dict[str, Any] | None:
        if isinstance(chunk, dict):
            data = _without_none(chunk)
            usage = data.pop("usage", None)
            if usage:
                self.usage = _Usage(
                    prompt_tokens=usage.get("prompt_tokens") or 0,
                    completion_tokens=usage.get("completion_tokens") or 0,
                )
        else:
            data = chunk.model_dump(exclude_none=True)
            if getattr(chunk, "usage", None):
                self.usage = chunk.usage
                data.pop("usage", None)
        for choice in data.get("choices", []):
            delta = choice.get("delta") or {}
            for name in ("provider_specific_fields", "function_call"):
                delta.pop(name, None)
            if delta.get("content"):
                self.text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                self._tool_call_add(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        data.pop("provider_specific_fields", None)
        data.pop("system_fingerprint", None)
        if not data.get("choices"):
            return None
        data["model"] = self.route.alias
        return data

    def _tool_call_add(self, call: dict[str, Any]) -> None:
        index = call.get("index", 0)
        current = self.tool_calls.setdefault(
            index,
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        current["id"] = call.get("id") or current["id"]
        function = call.get("function") or {}
        current["function"]["name"] += function.get("name") or ""
        current["function"]["arguments"] += function.get("arguments") or ""

    async def frames(self) -> AsyncIterator[dict[str, Any]]:
        chunk = self.first
        iterator = self.response.__aiter__()
        while chunk is not None:
            frame = self._frame(chunk)
            if frame is not None:
                yield frame
            chunk = await _next_chunk(iterator)

    def completion(self) -> Completion:
        text = "".join(self.text)
        if self.usage:
            prompt = self.usage.prompt_tokens or 0
            completion = self.usage.completion_tokens or 0
        else:
            prompt = prompt_tokens_estimate(
                model=self.route.model, messages=self.params.messages
            )
            completion = text_tokens_estimate(text) + sum(
                text_tokens_estimate(json.dumps(call))
                for call in self.tool_calls.values()
            )
        waited = time.monotonic() - self.started
        return Completion(
            route=self.route,
            content=text,
            finish_reason=self.finish_reason,
            tool_calls=list(self.tool_calls.values()) or None,
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_ms=int(waited * 1000),
            provider_seconds=waited,
        )

    async def close(self) -> None:
        """Let go of the provider connection (the client may have gone away)."""
        for target in (
            self.response,
            getattr(self.response, "completion_stream", None),
        ):
            closer = getattr(target, "aclose", None) or getattr(target, "close", None)
            if closer is None:
                continue
            try:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # closing is best effort
                logger.debug("closing the provider stream failed", exc_info=True)
            return


async def _next_chunk(iterator: Any) -> Any:
    try:
        # asyncio.timeout, not wait_for: no extra task per chunk.
        async with asyncio.timeout(settings.LLM_TIMEOUT_SECONDS):
            return await iterator.__anext__()
    except StopAsyncIteration:
        return None


async def completion_stream_open(*, routes: list[Route], params: CallParams) -> Stream:
    """Open a stream and read its first chunk, through the fallbacks on failure."""
    tried: list[str] = []
    started = time.monotonic()
    for position, route in enumerate(routes):
        response = None
        try:
            if route_is_passthrough(route):
                call = _passthrough_stream(route, params)
            else:
                call = litellm.acompletion(
                    **_request_kwargs(route, params, stream=True)
                )
            response = await asyncio.wait_for(
                call, timeout=settings.LLM_TIMEOUT_SECONDS + 1
            )
            first = await _next_chunk(response.__aiter__())
        except Exception as exc:
            if isinstance(response, _EventStream):
                await response.aclose()
            last = position == len(routes) - 1
            if last or not _is_retryable(exc):
                raise _failure(exc, route, tried) from None
            tried.append(_sanitized(exc, route))
            continue
        return Stream(
            route=route, params=params, response=response, first=first, started=started
        )
    raise ProviderError()  # pragma: no cover - routes is never empty


# --- Pass-through for OpenAI-compatible providers ----------------------------------

PASSTHROUGH_USER_AGENT = "saas-litellm-passthrough/1"
_clients: dict[
    asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncIterator[None]]
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


async def _http_client() -> httpx.AsyncClient:
    """The pooled client of this process's running event loop (made on first use:
    workers fork after the master's warm-up, and a client belongs to one loop)."""
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
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            trust_env=False,
            follow_redirects=False,
        )
        keeper = _closed_with_loop(client)
        _clients[loop] = (client, keeper)
    await keeper.__anext__()
    return client


async def _closed_with_loop(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Closes the client's connections when its loop shuts down: the loop closes
    its async generators then (asyncio.run, asgiref and uvicorn all ask it to)."""
    try:
        yield
    finally:
        await client.aclose()


def _passthrough_request(
    client: httpx.AsyncClient, route: Route, params: CallParams, *, stream: bool
) -> httpx.Request:
    body: dict[str, Any] = {
        "model": route.model.split("/", 1)[1],
        "messages": params.messages,
        **params.provider_kwargs(),
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return client.build_request(
        "POST",
        f"{(route.api_base or '').rstrip('/')}/chat/completions",
        content=json.dumps(body, separators=(",", ":")).encode(),
        headers={
            "Authorization": f"Bearer {route.api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": PASSTHROUGH_USER_AGENT,
        },
        timeout=httpx.Timeout(settings.LLM_TIMEOUT_SECONDS),
    )


def _transport_error(exc: httpx.HTTPError, route: Route) -> Exception:
    """litellm's exception for a timeout or a connection failure (no message kept)."""
    provider, model = "openai", route.model
    if isinstance(exc, httpx.TimeoutException):
        return litellm_errors.Timeout(
            message="provider timed out", model=model, llm_provider=provider
        )
    return litellm_errors.APIConnectionError(
        message="provider connection failed", llm_provider=provider, model=model
    )


def _status_error(response: httpx.Response, route: Route) -> Exception:
    status = response.status_code
    message = f"provider answered HTTP {status}"
    provider, model = "openai", route.model
    error = _STATUS_ERRORS.get(status)
    if error is litellm_errors.Timeout:
        return litellm_errors.Timeout(
            message=message, model=model, llm_provider=provider
        )
    if error is not None:
        return error(
            message=message, llm_provider=provider, model=model, response=response
        )
    return litellm_errors.APIError(
        status_code=status, message=message, llm_provider=provider, model=model
    )


async def _passthrough_send(
    route: Route, params: CallParams, *, stream: bool
) -> httpx.Response:
    client = await _http_client()
    request = _passthrough_request(client, route, params, stream=stream)
    try:
        response = await client.send(request, stream=stream)
    except httpx.HTTPError as exc:
        raise _transport_error(exc, route) from None
    if not response.is_success:
        if stream:
            try:
                await response.aread()  # an error body is short; then reuse the line
            except httpx.HTTPError:
                pass
            finally:
                await response.aclose()
        raise _status_error(response, route)
    return response


async def _passthrough_run(route: Route, params: CallParams) -> httpx.Response:
    return await _passthrough_send(route, params, stream=False)


def _completion_of_json(
    response: httpx.Response, route: Route, params: CallParams, started: float
) -> Completion:
    body = json.loads(response.content)
    choice = body["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content")
    usage = body.get("usage")
    if usage:
        prompt_tokens = usage.get("prompt_tokens") or 0
        completion_tokens = usage.get("completion_tokens") or 0
    else:
        prompt_tokens = prompt_tokens_estimate(
            model=route.model, messages=params.messages
        )
        completion_tokens = text_tokens_estimate(content or "")
    tool_calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            },
        }
        for call in message.get("tool_calls") or []
    ]
    waited = time.monotonic() - started
    return Completion(
        route=route,
        content=content,
        finish_reason=choice.get("finish_reason") or "",
        tool_calls=tool_calls or None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=int(waited * 1000),
        provider_seconds=waited,
    )


class _EventStream:
    """A provider's SSE body as parsed JSON chunks (async iterator), until [DONE]."""

    def __init__(self, response: httpx.Response, route: Route) -> None:
        self._response = response
        self._route = route
        self._chunks = self._read()

    def __aiter__(self) -> _EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        return await self._chunks.__anext__()

    async def _read(self) -> AsyncIterator[dict[str, Any]]:
        buffer = b""
        done = started = False
        try:
            async for data in self._response.aiter_bytes():
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
                        chunk = json.loads(payload)
                        if isinstance(chunk, dict) and chunk.get("error"):
                            raise litellm_errors.APIError(
                                status_code=500,
                                message="provider error in the stream",
                                llm_provider="openai",
                                model=self._route.model,
                            )
                        started = True
                        yield chunk
        except httpx.HTTPError as exc:
            if not started:
                raise _transport_error(exc, self._route) from None
            if isinstance(exc, httpx.TimeoutException):
                # The same wait as the chunk timer in `_next_chunk`: its error.
                raise TimeoutError() from None
            # A connection lost mid-way: litellm's stream wrapper calls it so.
            broke = litellm_errors.MidStreamFallbackError(
                message="provider stream broke",
                model=self._route.model,
                llm_provider="openai",
            )
            broke.status_code = 500  # as litellm's (from its connection error)
            raise broke from None

    async def aclose(self) -> None:
        try:
            await self._chunks.aclose()
        finally:
            await self._response.aclose()


async def _passthrough_stream(route: Route, params: CallParams) -> _EventStream:
    response = await _passthrough_send(route, params, stream=True)
    return _EventStream(response, route)


def stream_failure(exc: Exception, route: Route) -> ProviderError:
    """The error to record when a stream breaks after its first byte."""
    return _failure(exc, route, [])


def llm_warm() -> None:
    """Import litellm and run one offline completion so the first request is fast.

    Call it from gunicorn's master with preload (`on_starting` or at import of the
    config) so every worker forks warm.
    """
    litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "warm up"}],
        mock_response="ok",
    )
    prompt_tokens_estimate(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "warm"}]
    )
