"""Reading a streamed LLM call, shared by the async and the sync stream: the
server-sent-events decoder, the frame parser and the assembled answer. No I/O
happens here; each stream class only feeds it the lines it reads."""

from __future__ import annotations

import json
from typing import Any

import httpx

from ._calls import Call, validate
from .errors import APIConnectionError, StreamError, UnexpectedResponseError
from .models import StreamChunk, StreamEvent, StreamUsage

DONE = "[DONE]"


class SSEDecoder:
    """Incremental decoder of a ``text/event-stream``: lines in, event data out."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Feed one line (no newline); returns the data of a completed event."""
        line = line.rstrip("\r")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None  # comment / keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" "))
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any (call at the end of the stream)."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


def parse_stream_event(data: str) -> StreamEvent:
    """Turn one ``data:`` payload into a typed event; an error frame raises."""
    try:
        frame = json.loads(data)
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Malformed stream frame: {data[:200]!r}"
        ) from exc
    if not isinstance(frame, dict):
        raise UnexpectedResponseError(f"Malformed stream frame: {data[:200]!r}")
    error = frame.get("error")
    if error:
        if isinstance(error, dict):
            raise StreamError(
                str(error.get("message") or "Stream failed"),
                error_type=error.get("type"),
            )
        raise StreamError(str(error))
    choices = frame.get("choices")
    if not choices and frame.get("usage") is not None:
        usage = dict(frame["usage"])
        if "total_tokens" not in usage and "tokens_used" in usage:
            usage["total_tokens"] = usage["tokens_used"]
        return validate(StreamUsage, {"call_id": frame.get("call_id"), "usage": usage})
    choice = choices[0] if isinstance(choices, list) and choices else {}
    delta = choice.get("delta") or {}
    return validate(
        StreamChunk,
        {
            "content": delta.get("content") or "",
            "finish_reason": choice.get("finish_reason"),
            "tool_calls": delta.get("tool_calls") or [],
            "model": frame.get("model"),
            "raw": frame,
        },
    )


def check_stream_response(response: httpx.Response) -> None:
    """A 2xx answer to a stream request must be an event stream."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        raise UnexpectedResponseError(
            f"Expected an event stream, got {content_type or 'no content type'}",
            status_code=response.status_code,
        )


class StreamState:
    """What a stream has produced so far, fed one line of the body at a time."""

    def __init__(self) -> None:
        self.content_parts: list[str] = []
        self.finish_reason: str | None = None
        self.call_id: str | None = None
        self.usage: StreamUsage | None = None
        self.done = False
        self._decoder = SSEDecoder()

    def feed(self, line: str) -> StreamEvent | None:
        """Process one line; returns the event it completes, if any.

        After ``[DONE]`` :attr:`done` is true and the reader stops. At the end of
        the body, feed ``""``: a last event without its closing blank line counts.
        """
        data = self._decoder.feed(line)
        if data is None:
            return None
        if data.strip() == DONE:
            self.done = True
            return None
        event = parse_stream_event(data)
        if isinstance(event, StreamUsage):
            self.usage = event
            self.call_id = event.call_id
        else:
            self.content_parts.append(event.content)
            self.finish_reason = event.finish_reason or self.finish_reason
        return event

    def check_done(self) -> None:
        """Raise if the body ended before ``[DONE]``."""
        if not self.done:
            raise APIConnectionError("The stream ended before [DONE]")


class ChatStreamBase:
    """The answer a streamed LLM call has assembled so far; the async and the sync
    stream add the reading."""

    def __init__(self, call: Call[Any]) -> None:
        self._call = call
        self._state = StreamState()
        self._response: httpx.Response | None = None

    @property
    def content(self) -> str:
        """The text received so far."""
        return "".join(self._state.content_parts)

    @property
    def finish_reason(self) -> str | None:
        """Why the answer ended, once known."""
        return self._state.finish_reason

    @property
    def call_id(self) -> str | None:
        """The call's id, known when the final usage item has arrived."""
        return self._state.call_id

    @property
    def usage(self) -> StreamUsage | None:
        """The final usage item, once received."""
        return self._state.usage
