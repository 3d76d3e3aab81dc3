"""The LLM gateway: the only module that imports litellm.

`route_plan` turns the alias a team asked for into an ordered list of routes (the alias
and its fallbacks): a litellm model string, the provider credential decrypted in memory
and an optional api_base. `completion_run` and `completion_stream_open` try the routes
in order, moving on only when a provider fails with a retryable error (429, 5xx,
timeout, connection error). Failures come back as ProviderError / ProviderTimeout,
whose client-facing detail never carries the provider's message; `internal` holds a
sanitized description (exception class, status, route) for the LLMCall row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Q

from saas_litellm.exceptions import ModelAccessDenied, ProviderError, ProviderTimeout
from teams.keys import credential_decrypt
from teams.models import ModelAlias, ProviderCredential, Team

# litellm must never fetch its price table (or tokenizers) from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

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


def route_plan(*, team: Team, alias_name: str) -> list[Route]:
    """The alias (if the team may use it) followed by its active fallbacks.

    An unknown alias and a forbidden one get the same ModelAccessDenied, so a team
    cannot enumerate the catalogue. Fallbacks are the operator's choice and need not
    be in the team's access groups, but inactive ones are skipped.
    """
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
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=route.model,
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
            response = await asyncio.wait_for(
                litellm.acompletion(**_request_kwargs(route, params, stream=False)),
                timeout=settings.LLM_TIMEOUT_SECONDS + 1,
            )
        except Exception as exc:
            last = position == len(routes) - 1
            if last or not _is_retryable(exc):
                raise _failure(exc, route, tried) from None
            tried.append(_sanitized(exc, route))
            continue
        try:
            return _completion_of(response, route, params, started)
        except Exception as exc:  # a malformed answer is the provider's failure
            raise _failure(exc, route, tried) from None
    raise ProviderError()  # pragma: no cover - routes is never empty


@dataclass
class Stream:
    """An open provider stream: chunks as the provider sends them, usage at the end.

    `frames()` yields OpenAI chunk dicts with `model` set to the alias; afterwards
    `completion()` holds the usage (the provider's, or an estimate from the text when
    the stream was cut before the provider sent it).
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
        return await asyncio.wait_for(
            iterator.__anext__(), timeout=settings.LLM_TIMEOUT_SECONDS
        )
    except StopAsyncIteration:
        return None


async def completion_stream_open(*, routes: list[Route], params: CallParams) -> Stream:
    """Open a stream and read its first chunk, through the fallbacks on failure."""
    tried: list[str] = []
    started = time.monotonic()
    for position, route in enumerate(routes):
        try:
            response = await asyncio.wait_for(
                litellm.acompletion(**_request_kwargs(route, params, stream=True)),
                timeout=settings.LLM_TIMEOUT_SECONDS + 1,
            )
            first = await _next_chunk(response.__aiter__())
        except Exception as exc:
            last = position == len(routes) - 1
            if last or not _is_retryable(exc):
                raise _failure(exc, route, tried) from None
            tried.append(_sanitized(exc, route))
            continue
        return Stream(
            route=route, params=params, response=response, first=first, started=started
        )
    raise ProviderError()  # pragma: no cover - routes is never empty


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
