"""Payload logging: a call's prompt and answer, kept for the days its team asked for
(`Team.payload_log_days`; 0, the default, keeps nothing).

What is kept is what the team sent and what it was answered: the messages (or an
embedding's input), tools and parameters; the answers' texts, tool calls and finish
reason (an embedding's vector count and size, not its vectors). Never a header, a
key or a credential: those are not part of it, and a string inside it that looks
like an API key (ours, OpenAI's, Anthropic's, Google's, Groq's, xAI's, a bearer
token) is replaced by KEY_REDACTED before it is stored, since people paste keys into
prompts. It is written in the transaction that records the call's outcome, and
deleted by `prune_calls` once its time is up (or with its call).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from jobs.gateway import CallParams, Completion
from jobs.models import CallPayload, LLMCall
from teams.models import Team

KEY_REDACTED = "[redacted key]"
KEY_LIKE = re.compile(
    r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"  # ours (sk-…), OpenAI's, Anthropic's
    r"|\bAIza[0-9A-Za-z_-]{30,}"  # Google's
    r"|\b(?:gsk|xai)[_-][A-Za-z0-9]{20,}"  # Groq's, xAI's
    r"|\bBearer\s+[A-Za-z0-9._~+/=-]{16,}",
    re.IGNORECASE,
)


def _redacted(value: Any) -> Any:
    """`value` (JSON) with every key-like string in it replaced."""
    if isinstance(value, str):
        return KEY_LIKE.sub(KEY_REDACTED, value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def _request_of(params: CallParams) -> dict[str, Any]:
    sent: dict[str, Any] = (
        {"input": params.input} if params.embeds else {"messages": params.messages}
    )
    return {**sent, **params.provider_kwargs()}


def _response_of(completion: Completion) -> dict[str, Any]:
    if completion.embeddings is not None:
        vectors = completion.embeddings
        return {
            "embeddings": len(vectors),
            "dimensions": len(vectors[0]) if vectors else 0,
        }
    return {
        "texts": completion.texts(),
        "tool_calls": completion.tool_calls,
        "finish_reason": completion.finish_reason,
    }


def call_payload_record(
    *,
    call: LLMCall,
    team: Team,
    params: CallParams,
    completion: Completion | None,
    now: datetime,
) -> None:
    """Keep the call's prompt and answer if its team logs payloads. In the caller's
    transaction (the one that records the outcome)."""
    days = team.payload_log_days
    if not days:
        return
    CallPayload.objects.create(
        call=call,
        request=_redacted(_request_of(params)),
        response=_redacted(_response_of(completion)) if completion else None,
        keep_until=now + timedelta(days=days),
    )
