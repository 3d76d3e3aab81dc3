"""Answers of /v1/messages: a message by litellm's translator, and a stream's events
(`EventWriter`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from litellm import ModelResponse
from litellm.llms.anthropic.common_utils import normalize_anthropic_tool_use_id
from litellm.llms.anthropic.messages.adapters.transformation import (
    LiteLLMAnthropicMessagesAdapter,
)

from jobs import pipeline, pricing
from jobs.gateway import CallParams, Completion
from jobs.models import LLMCall
from jobs.pipeline import Admitted
from saas_litellm.exceptions import Dialect, ProviderError, error_body

# OpenAI's finish_reason as Anthropic's stop_reason: litellm's mapping for answers
# (its `_translate_openai_finish_reason_to_anthropic`, private, so written out here).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

_translator = LiteLLMAnthropicMessagesAdapter()


def message_id(call: LLMCall) -> str:
    return f"msg_{call.call_id.hex}"


def usage_of(completion: Completion) -> dict[str, int]:
    """Anthropic's usage: input_tokens are those neither read from nor written to
    the provider's prompt cache."""
    cached, written = completion.cached_tokens, completion.cache_write_tokens
    return {
        "input_tokens": max(completion.prompt_tokens - cached - written, 0),
        "output_tokens": completion.completion_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def message_body(
    call: LLMCall, completion: Completion, tool_names: dict[str, str]
) -> dict[str, Any]:
    """The answer as Anthropic's message, by litellm's translator."""
    answer: dict[str, Any] = {"role": "assistant", "content": completion.content}
    if completion.tool_calls:
        answer["tool_calls"] = completion.tool_calls
    response = ModelResponse(
        model=call.model_alias,
        choices=[
            {
                "index": 0,
                "message": answer,
                "finish_reason": completion.finish_reason or "stop",
            }
        ],
        usage={
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.total_tokens,
        },
    )
    message = _translator.translate_openai_response_to_anthropic(
        response=response, tool_name_mapping=tool_names
    )
    return {
        **message,
        "id": message_id(call),
        "model": call.model_alias,
        "usage": usage_of(completion),
    }


def input_tokens_count(*, model: str, params: CallParams) -> int:
    """The prompt's tokens (its tools included) by litellm's tokenizer for `model`,
    or an estimate where it cannot count (never 0)."""
    messages = params.messages
    if params.tools:
        tools = {"role": "system", "content": json.dumps(params.tools)}
        messages = [*messages, tools]
    return pricing.prompt_tokens_estimate(model=model, messages=messages)


class EventWriter:
    """Anthropic's stream events for one call, from the pipeline's OpenAI chunks:
    message_start, then per content block content_block_start, its deltas
    (text_delta, input_json_delta) and content_block_stop, then message_delta
    (stop_reason, the billed usage and the credits) and message_stop.

    Written here rather than by litellm's `AnthropicStreamWrapper`, which pulls a
    litellm stream itself and reads the usage off its last chunk: the pipeline
    pushes chunks one at a time (on the fast path the provider's JSON, no litellm
    objects), and knows the billed usage and the charge only once the call is
    recorded (`closing`)."""

    def __init__(
        self,
        *,
        admitted: Admitted,
        opened: pipeline.OpenStream,
        tool_names: dict[str, str],
    ) -> None:
        self.admitted = admitted
        self.opened = opened
        self.call = opened.ticket.call
        self.tool_names = tool_names
        self.index = -1
        self.block: tuple[str, int] | None = None  # the open block: kind, tool index

    def opening(self) -> dict[str, Any]:
        usage = self.opened.stream.usage
        prompt = usage.prompt if usage is not None else None
        if prompt is None:
            route, params = self.opened.stream.route, self.opened.ticket.params
            prompt = input_tokens_count(model=route.model, params=params)
        message = {
            "id": message_id(self.call),
            "type": "message",
            "role": "assistant",
            "model": self.call.model_alias,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 0},
        }
        return {"type": "message_start", "message": message}

    def _start(self, block: tuple[str, int], content: dict) -> list[dict[str, Any]]:
        events = self._stop()
        self.index += 1
        self.block = block
        events.append(
            {
                "type": "content_block_start",
                "index": self.index,
                "content_block": content,
            }
        )
        return events

    def _stop(self) -> list[dict[str, Any]]:
        if self.block is None:
            return []
        self.block = None
        return [{"type": "content_block_stop", "index": self.index}]

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": self.index, "delta": delta}

    def chunk(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for choice in frame.get("choices", [])[:1]:
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                if self.block != ("text", 0):
                    events += self._start(("text", 0), {"type": "text", "text": ""})
                events.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                block = ("tool_use", call.get("index", 0))
                if self.block != block:
                    name = function.get("name") or ""
                    tool_id = call.get("id") or f"toolu_{uuid.uuid4().hex}"
                    content = {
                        "type": "tool_use",
                        "id": normalize_anthropic_tool_use_id(tool_id),
                        "name": self.tool_names.get(name, name),
                        "input": {},
                    }
                    events += self._start(block, content)
                if arguments := function.get("arguments"):
                    json_delta = {"type": "input_json_delta", "partial_json": arguments}
                    events.append(self._delta(json_delta))
        return events

    def closing(self, result: pipeline.Result) -> list[dict[str, Any]]:
        completion = result.completion
        delta = {
            "stop_reason": STOP_REASONS.get(completion.finish_reason, "end_turn"),
            "stop_sequence": None,
        }
        usage = {**usage_of(completion), "credits": result.credits()}
        return [
            *self._stop(),
            {"type": "message_delta", "delta": delta, "usage": usage},
            {"type": "message_stop"},
        ]

    def error(self, failure: ProviderError) -> dict[str, Any]:
        return error_body(failure, Dialect.ANTHROPIC)
