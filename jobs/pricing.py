"""Prices and token counts of LLM calls, in USD and tokens (credits are
`credits.services.pricing`'s).

A call's provider cost is the alias's own prices or litellm's price table; its worst
case (what is reserved before the provider is called) is the prompt's tokens plus the
most output any of its routes may produce, at the dearest route's prices (an
embedding has no output: its worst case is its input). Usage the
provider did not report is estimated here, and usage beyond the worst case is capped at
it: a reservation is never exceeded on a provider's word.
"""

from __future__ import annotations

import json
import logging
import math
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jobs import gateway
from jobs.gateway import CallParams, Completion, EmbeddingInput
from jobs.routing import Route, output_tokens_limit

logger = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_TOKENS = 4096
PER_MILLION = Decimal(1_000_000)


def call_cost_usd(
    *,
    route: Route,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """Provider cost: the alias's own prices (every prompt token at its input
    price: an alias has no cache prices), else litellm's price table (cache reads
    and writes at the model's own rates), else 0."""
    if route.pricing_input is not None or route.pricing_output is not None:
        return (
            Decimal(prompt_tokens) * (route.pricing_input or Decimal(0))
            + Decimal(completion_tokens) * (route.pricing_output or Decimal(0))
        ) / PER_MILLION
    return _table_cost_usd(
        route.model, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens
    )


@lru_cache(maxsize=4096)
def _table_cost_usd(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    cache_write_tokens: int,
) -> Decimal:
    """litellm's price for these exact figures (cached: the lookup is costly)."""
    try:
        prompt_cost, completion_cost = gateway.cost_per_token(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
        )
    except Exception:  # unknown to litellm's table: no price known
        return Decimal(0)
    return Decimal(str(prompt_cost)) + Decimal(str(completion_cost))


def completion_cost_usd(completion: Completion) -> Decimal:
    return call_cost_usd(
        route=completion.route,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cached_tokens=completion.cached_tokens,
        cache_write_tokens=completion.cache_write_tokens,
    )


def prompt_tokens_estimate(*, model: str, messages: list[dict[str, Any]]) -> int:
    """Tokens of the prompt, by litellm's tokenizer or, failing that, 1 per 4 chars."""
    try:
        return gateway.token_count(model=model, messages=messages)
    except Exception:
        return math.ceil(len(json.dumps(messages)) / 4)


def text_tokens_estimate(text: str) -> int:
    return math.ceil(len(text) / 4)


def input_tokens_estimate(*, model: str, input: EmbeddingInput) -> int:
    """Tokens of an embedding's input: a token array counts its tokens; a text the
    larger of litellm's tokenizer and 1 per 4 characters. Providers count with
    their own tokenizers, and this is all an embedding reserves (it has no output
    allowance), so it leans high: usage beyond it would be capped, not billed."""
    items = [input] if isinstance(input, str) or isinstance(input[0], int) else input
    total = 0
    for item in items:
        if isinstance(item, list):
            total += len(item)
            continue
        try:
            counted = gateway.token_count(model=model, text=item)
        except Exception:
            counted = 0
        total += max(counted, text_tokens_estimate(item), 1)
    return total


def prompt_estimate(model: str, params: CallParams) -> int:
    """Tokens of a call's prompt (or embedding input), by the model's tokenizer."""
    if params.input is not None:
        return input_tokens_estimate(model=model, input=params.input)
    return prompt_tokens_estimate(model=model, messages=params.messages)


def output_tokens_reserved(route: Route, params: CallParams) -> int:
    """The most output a call may make: each of its `n` answers up to its limit."""
    if params.embeds:
        return 0
    return params.n * (
        params.max_tokens
        or min(
            route.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
            output_tokens_limit(route),
        )
    )


def call_worst_case(
    *, routes: list[Route], params: CallParams, prompt_tokens: int | None = None
) -> tuple[int, Decimal]:
    """The most tokens and provider cost one call could use, over all its routes
    (`prompt_tokens`: the prompt's, when already counted)."""
    prompt = (
        prompt_estimate(routes[0].model, params)
        if prompt_tokens is None
        else prompt_tokens
    )
    tokens, cost = 0, Decimal(0)
    for route in routes:
        output = output_tokens_reserved(route, params)
        tokens = max(tokens, prompt + output)
        cost = max(
            cost,
            call_cost_usd(route=route, prompt_tokens=prompt, completion_tokens=output),
        )
    return tokens, cost


def usage_settle(
    completion: Completion,
    *,
    params: CallParams,
    worst_case_tokens: int,
    at_worst_case: bool = False,
) -> None:
    """Make `completion`'s usage billable: the provider's when it reported a sane
    one; else an estimate from the prompt and the text (or, `at_worst_case`, the
    reserved worst case); never more than the worst case. Anything but the
    provider's own figures flags the call `usage_estimated`."""
    route = completion.route
    if not completion.usage_reported:
        completion.usage_estimated = True
        completion.cached_tokens = completion.cache_write_tokens = 0
        completion.reasoning_tokens = 0
        if at_worst_case:
            output = min(output_tokens_reserved(route, params), worst_case_tokens)
            completion.prompt_tokens = worst_case_tokens - output
            completion.completion_tokens = output
            return
        completion.prompt_tokens = prompt_estimate(route.model, params)
        completion.completion_tokens = sum(
            text_tokens_estimate(text) for text in completion.texts()
        ) + sum(
            text_tokens_estimate(json.dumps(call))
            for call in completion.tool_calls or []
        )
    if completion.total_tokens > worst_case_tokens:
        logger.warning(
            "alias %s: usage %s+%s beyond the reserved %s tokens, capped",
            route.alias,
            completion.prompt_tokens,
            completion.completion_tokens,
            worst_case_tokens,
        )
        completion.usage_estimated = True
        output = min(
            completion.completion_tokens, output_tokens_reserved(route, params)
        )
        output = min(output, worst_case_tokens)
        completion.completion_tokens = output
        completion.prompt_tokens = min(
            completion.prompt_tokens, worst_case_tokens - output
        )
        completion.reasoning_tokens = min(completion.reasoning_tokens, output)
        completion.cached_tokens = min(
            completion.cached_tokens, completion.prompt_tokens
        )
        completion.cache_write_tokens = min(
            completion.cache_write_tokens,
            completion.prompt_tokens - completion.cached_tokens,
        )
