"""Reading a streamed LLM call, shared by the async and the sync stream: the
server-sent-events decoder, the frame parsers and the assembled answers (of a chat
stream and of a Responses stream). No I/O happens here; each stream class only
feeds them the lines it reads."""

from __future__ import annotations

import json
from typing import Any, Protocol, TypeVar

import httpx

from ._calls import RESPONSE_HEADER_FIELDS, fields_from_headers, validate
from .errors import APIConnectionError, StreamError, UnexpectedResponseError
from .models import (
    Credits,
    Response,
    ResponseCompleted,
    ResponseFunctionCallArgumentsDelta,
    ResponseRawEvent,
    ResponseStreamEvent,
    ResponseTextDelta,
    ResponseUsage,
    StreamChunk,
    StreamEvent,
    StreamUsage,
)

DONE = "[DONE]"

EventT_co = TypeVar("EventT_co", covariant=True)


class EventReader(Protocol[EventT_co]):
    """What a stream class feeds the lines of a body to (one per stream)."""

    done: bool

    def opened(self, response: httpx.Response) -> None:
        """Check the 2xx answer that opens the stream, and read its headers."""

    def feed(self, line: str) -> EventT_co | None:
        """Process one line; returns the event it completes, if any."""

    def check_done(self) -> None:
        """Raise if the body ended before the stream's last event."""


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


def decode_frame(data: str) -> dict[str, Any]:
    """One ``data:`` payload as a JSON object."""
    try:
        frame = json.loads(data)
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Malformed stream frame: {data[:200]!r}"
        ) from exc
    if not isinstance(frame, dict):
        raise UnexpectedResponseError(f"Malformed stream frame: {data[:200]!r}")
    return frame


def parse_stream_event(data: str) -> StreamEvent:
    """Turn one ``data:`` payload into a typed event; an error frame raises."""
    frame = decode_frame(data)
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

    def opened(self, response: httpx.Response) -> None:
        check_stream_response(response)

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

    _state: StreamState

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


# The Responses stream (/v1/responses): `event:` + `data:` frames named by their
# `type`, ending with `response.completed` (or `.incomplete`), without [DONE].

COMPLETED = ("response.completed", "response.incomplete")
FAILED = "response.failed"


def stream_failure(frame: dict[str, Any]) -> StreamError:
    """The error of a ``response.failed`` or ``error`` event."""
    error = frame.get("error")
    if frame.get("type") == FAILED:
        error = (frame.get("response") or {}).get("error")
    if not isinstance(error, dict):
        error = frame
    code = error.get("code") or error.get("type")
    return StreamError(
        str(error.get("message") or "Stream failed"),
        error_type=str(code) if code is not None and code != "error" else None,
    )


class ResponseStreamState:
    """What a Responses stream has produced so far, fed one line at a time."""

    def __init__(self) -> None:
        self.text_parts: list[str] = []
        self.response: Response | None = None
        self.response_id: str | None = None
        self.ids: dict[str, str] = {}
        self.done = False
        self._decoder = SSEDecoder()

    def opened(self, response: httpx.Response) -> None:
        check_stream_response(response)
        self.ids = fields_from_headers(response, RESPONSE_HEADER_FIELDS)

    def feed(self, line: str) -> ResponseStreamEvent | None:
        """Process one line; returns the event it completes, if any.

        After ``response.completed`` :attr:`done` is true and the reader stops. A
        ``response.failed`` or ``error`` event raises :class:`StreamError`.
        """
        data = self._decoder.feed(line)
        if data is None or data.strip() == DONE:
            return None
        frame = decode_frame(data)
        kind = frame.get("type")
        if kind == "response.output_text.delta":
            event = validate(ResponseTextDelta, frame)
            self.text_parts.append(event.delta)
            return event
        if kind == "response.function_call_arguments.delta":
            return validate(ResponseFunctionCallArgumentsDelta, frame)
        if kind in COMPLETED:
            body = frame.get("response")
            if isinstance(body, dict):
                frame = {**frame, "response": {**body, **self.ids}}
            completed = validate(ResponseCompleted, frame)
            self.response = completed.response
            self.done = True
            return completed
        if kind == FAILED or kind == "error":
            raise stream_failure(frame)
        if not isinstance(kind, str):
            raise UnexpectedResponseError(
                f"Stream event without a type: {data[:200]!r}"
            )
        if kind == "response.created":
            self.response_id = (frame.get("response") or {}).get("id")
        return validate(
            ResponseRawEvent,
            {
                "type": kind,
                "sequence_number": frame.get("sequence_number"),
                "data": frame,
            },
        )

    def check_done(self) -> None:
        """Raise if the body ended before ``response.completed``."""
        if not self.done:
            raise APIConnectionError("The stream ended before response.completed")


class ResponseStreamBase:
    """The response a Responses stream has assembled so far; the async and the
    sync stream add the reading."""

    _state: ResponseStreamState

    @property
    def output_text(self) -> str:
        """The text received so far (the final response's once it has arrived)."""
        if self._state.response is not None:
            return self._state.response.output_text
        return "".join(self._state.text_parts)

    @property
    def response(self) -> Response | None:
        """The final :class:`Response`, once ``response.completed`` has arrived."""
        return self._state.response

    @property
    def response_id(self) -> str | None:
        """The response's id, known from the stream's first event."""
        return self._state.response_id

    @property
    def usage(self) -> ResponseUsage | None:
        """The final response's usage, once received."""
        return self._state.response.usage if self._state.response else None

    @property
    def credits(self) -> Credits | None:
        """What the call cost and what is left, once the final response arrived."""
        return self._state.response.credits if self._state.response else None

    @property
    def call_id(self) -> str | None:
        """The LLM call's id (``X-Call-Id``), known once the stream has started."""
        return self._state.ids.get("call_id")

    @property
    def job_id(self) -> str | None:
        """The call's job (``X-Job-Id``), known once the stream has started."""
        return self._state.ids.get("job_id")
