"""A chat answer as a Responses object, and the Responses stream of a call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litellm.responses.litellm_completion_transformation.transformation import (
    LiteLLMCompletionResponsesConfig as ResponsesBridge,
)

from jobs import pipeline
from jobs.gateway import Completion
from jobs.models import LLMCall
from jobs.openai_api import chat_completion_body
from jobs.openai_responses.parse import ResponsesRequest
from jobs.pipeline import StreamFormat
from saas_litellm.exceptions import ProviderError

# --- Responses --------------------------------------------------------------------


def _usage(completion: Completion, credits: dict[str, int]) -> dict[str, Any]:
    return {
        "input_tokens": completion.prompt_tokens,
        "input_tokens_details": {"cached_tokens": completion.cached_tokens},
        "output_tokens": completion.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": completion.reasoning_tokens},
        "total_tokens": completion.total_tokens,
        "credits": credits,
    }


def response_shell(parsed: ResponsesRequest, call: LLMCall) -> dict[str, Any]:
    """The response object before its answer: in progress, no output yet."""
    return {
        "id": parsed.response_id,
        "object": "response",
        "created_at": int(call.created_at.timestamp()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "model": call.model_alias,
        "output": [],
        "store": parsed.store,
        "usage": None,
        **parsed.echo,
    }


def response_body(
    parsed: ResponsesRequest,
    call: LLMCall,
    completion: Completion,
    credits: dict[str, int],
) -> dict[str, Any]:
    """The finished response object: litellm's reading of the chat answer (output
    items, status, incomplete_details) under our ids, the alias and our usage."""
    answer = (
        ResponsesBridge.transform_chat_completion_response_to_responses_api_response(
            request_input=[],
            responses_api_request={
                "max_output_tokens": parsed.echo["max_output_tokens"]
            },
            chat_completion_response=chat_completion_body(call, completion),
        )
    )
    output = [item.model_dump(exclude_none=True) for item in answer.output]
    for item in output:
        if item["type"] == "message":
            item["id"] = parsed.message_id
    details = answer.incomplete_details
    return {
        **response_shell(parsed, call),
        "status": answer.status,
        "incomplete_details": details.model_dump() if details else None,
        "output": output,
        "usage": _usage(completion, credits),
    }


# --- Streams ----------------------------------------------------------------------


@dataclass
class ResponseEvents:
    """The Responses stream of one call, written from the chat chunks the pipeline
    relays: `response.created` and `.in_progress`, each output item added, its
    deltas, each item done, then `response.completed` (or `.incomplete`) with the
    whole response and its usage; `response.failed` after a provider error. Every
    event carries its `sequence_number`."""

    parsed: ResponsesRequest
    call: LLMCall
    closes_job: bool
    sequence: int = 0
    # Output items as announced, by output_index; a tool call's by its chat index.
    items: list[dict[str, Any]] = field(default_factory=list)
    tool_items: dict[int, dict[str, Any]] = field(default_factory=dict)
    message: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def _added(self, item: dict[str, Any]) -> dict[str, Any]:
        self.items.append(item)
        return self._event(
            "response.output_item.added", output_index=len(self.items) - 1, item=item
        )

    def opening(self) -> list[dict[str, Any]]:
        shell = response_shell(self.parsed, self.call)
        return [
            self._event("response.created", response=shell),
            self._event("response.in_progress", response=shell),
        ]

    def _text(self, delta: str) -> list[dict[str, Any]]:
        events = []
        if self.message is None:
            self.message = {
                "id": self.parsed.message_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            events.append(self._added(self.message))
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=self.message["id"],
                    output_index=len(self.items) - 1,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=self.message["id"],
                output_index=self.items.index(self.message),
                content_index=0,
                delta=delta,
                logprobs=[],
            )
        )
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self.tool_items.get(index)
        if item is None:
            call_id = call.get("id") or f"call_{self.call.call_id.hex}_{index}"
            item = {
                "id": f"fc_{call_id}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": function.get("name") or "",
                "arguments": "",
            }
            self.tool_items[index] = item
            events.append(self._added(item))
        if function.get("arguments"):
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=self.items.index(item),
                    delta=function["arguments"],
                )
            )
        return events

    def chunk(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        for choice in frame.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events += self._text(delta["content"])
            for call in delta.get("tool_calls") or []:
                events += self._tool_call(call)
        return events

    def _done(self, index: int, item: dict[str, Any]) -> list[dict[str, Any]]:
        where = {"item_id": item["id"], "output_index": index}
        events = []
        if item["type"] == "message":
            for part_index, part in enumerate(item["content"]):
                at = {**where, "content_index": part_index}
                if part["type"] == "output_text":
                    events.append(
                        self._event(
                            "response.output_text.done",
                            **at,
                            text=part["text"],
                            logprobs=[],
                        )
                    )
                events.append(
                    self._event("response.content_part.done", **at, part=part)
                )
        elif item["type"] == "function_call":
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        events.append(
            self._event("response.output_item.done", output_index=index, item=item)
        )
        return events

    def closing(self, result: pipeline.Result) -> list[dict[str, Any]]:
        """The items done, in the order they were announced (an item the chunks did
        not announce is announced here). The response is kept in `finished` for
        `completed`, sent once it is stored."""
        body = response_body(
            self.parsed, result.call, result.completion, result.credits()
        )
        announced = {item["id"]: position for position, item in enumerate(self.items)}
        tool_ids = {item["call_id"]: item["id"] for item in self.tool_items.values()}
        events = []
        for item in body["output"]:
            item["id"] = tool_ids.get(item.get("call_id"), item["id"])
            if item["id"] not in announced:
                announced[item["id"]] = len(self.items)
                events.append(self._added({**item, "status": "in_progress"}))
        body["output"].sort(key=lambda item: announced[item["id"]])
        for item in body["output"]:
            events += self._done(announced[item["id"]], item)
        self.finished = body
        return events

    def completed(self) -> dict[str, Any]:
        """The last event: the whole response, its usage and credits."""
        assert self.finished is not None  # noqa: S101 - closing() came first
        body = self.finished
        incomplete = body["status"] == "incomplete"
        kind = "response.incomplete" if incomplete else "response.completed"
        return self._event(kind, response=body)

    def error(self, failure: ProviderError) -> dict[str, Any]:
        shell = response_shell(self.parsed, self.call)
        shell.update(
            status="failed", error={"code": failure.code, "message": failure.detail}
        )
        return self._event("response.failed", response=shell)

    def format(self) -> StreamFormat:
        return StreamFormat(
            chunk=self.chunk,
            closing=self.closing,
            error=self.error,
            opening=self.opening,
            encode=pipeline.typed_sse,
            done=False,
        )
