"""A fake OpenAI-compatible (and Anthropic) provider on 127.0.0.1, for tests and demos.

It answers `POST /v1/chat/completions` (and `/chat/completions`) in OpenAI's format,
streamed (SSE, with `stream_options.include_usage`) or not. The model name picks the
behaviour, so an alias's `actual_model` decides what a call meets:

- `fake-echo` (or any other name): answers "Echo: <last user message>" (not
  streamed: `n` times, with `logprobs` when asked for);
- `fake-slow`: like fake-echo after `latency` seconds (default 1 s);
- `fake-fail-429`, `fake-fail-500`, `fake-fail-400`, `fake-fail-401`: that HTTP error;
- `fake-timeout`: never answers in time (sleeps `timeout_sleep` seconds);
- `fake-break-stream`: a stream that breaks after two chunks (incomplete chunked
  body, as when a provider's connection drops); not streamed, a 500;
- `fake-bad-chunks`: a stream whose first chunk is fine, then malformed JSON chunks
  and `[DONE]`; not streamed, a 200 whose body is not JSON;
- `fake-bad-first-chunk`: a stream whose first chunk is malformed JSON (the rest is
  fake-echo's); not streamed, like fake-bad-chunks;
- `fake-no-usage`: an answer without `usage`, streamed (no usage chunk, even when
  asked for one) or not;
- `fake-usage-huge`, `fake-usage-negative`, `fake-usage-string`: `usage.prompt_tokens`
  is 5e9 (a float in JSON), -7 or "many", streamed or not;
- `fake-empty`: a stream of nothing but `[DONE]`; not streamed, an answer without
  choices;
- `fake-usage-details`: half the prompt tokens read from a cache and 1 reasoning
  token, in OpenAI's usage details, streamed or not;
- `fake-filtered`: an empty answer (finish_reason `content_filter`, no output
  tokens), streamed or not;
- `fake-strict`: fake-echo, but a 400 `invalid_request_error` as OpenAI answers it
  for a tool whose `parameters` is not a `type: object` schema, or an `image_url`
  part whose url is neither http(s) nor a data URL.

It also answers `POST /v1/embeddings` (and `/embeddings`): deterministic vectors of
`dimensions` floats (default 8) per input (a string, a list of strings, token arrays),
as floats or, with `encoding_format: base64`, as OpenAI's base64 of little-endian
float32s, with `usage.prompt_tokens`; `fake-no-usage` answers without usage, and the
`fake-fail-*`, `fake-slow` and `fake-timeout` names behave as above.

Whatever the model, the next `FakeBehaviour.fail_next` OpenAI-shaped requests
answer 429 (with `Retry-After: retry_after` when set): a provider that is rate
limiting for a while.

It also speaks Anthropic's Messages API, as litellm calls it for an `anthropic/…`
model whose api_base is this server's root (`FakeProvider.anthropic_api_base`:
litellm appends `/v1/messages`): `POST /v1/messages` (and `/messages`) answers in
Anthropic's format, streamed (message_start with the prompt's usage, content blocks
and their deltas, message_delta with stop_reason and the output tokens,
message_stop) or not. Its usage splits the prompt's tokens (system included) as
Anthropic does: cache_read_input_tokens and cache_creation_input_tokens (0 unless
the server's behaviour sets `cache_read_tokens`/`cache_write_tokens`: server-wide
like chunk counts, so that an alias keeps a model name litellm has prices for), the
rest input_tokens; and output_tokens. Any model name answers "Echo: <last user
message>", except:

- `claude-fake-no-usage`: an answer without `usage` (a stream's message_start and
  message_delta carry none);
- `claude-fake-529`, `claude-fake-429`, `claude-fake-500`, `claude-fake-400`: that
  HTTP error in Anthropic's shape (529: `overloaded_error`);
- `claude-fake-break-stream`: a stream that breaks after two text deltas; not
  streamed, a 500.

The latency headers and `fake-slow`/`fake-timeout` work on both APIs. Anthropic
requests are recorded with `x-api-key` and `authorization` shortened to their last
four characters (enough to tell which credential was sent).

With `tools` the answer is a tool call of the first tool (Anthropic: a tool_use
block); with `response_format` json_schema/json_object it is a JSON document.
Latency, chunk count and chunk delay come from the server defaults or per request
from the headers `X-Fake-Latency`, `X-Fake-Chunks` and `X-Fake-Chunk-Delay`. Every
request is counted and kept, so tests can assert that the provider was (or was not)
contacted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETION_PATHS = ("/v1/chat/completions", "/chat/completions")
EMBEDDING_PATHS = ("/v1/embeddings", "/embeddings")
ANTHROPIC_PATHS = ("/v1/messages", "/messages")
DEFAULT_DIMENSIONS = 8
FAILURES = {
    "fake-fail-429": (429, "rate_limit_exceeded", "Rate limit reached (fake)"),
    "fake-fail-500": (500, "server_error", "Internal error (fake)"),
    "fake-fail-400": (400, "invalid_request_error", "Bad request (fake)"),
    "fake-fail-401": (401, "invalid_api_key", "Incorrect API key sk-fake… (fake)"),
}
ANTHROPIC_FAILURES = {
    "claude-fake-529": (529, "overloaded_error", "Overloaded (fake)"),
    "claude-fake-429": (429, "rate_limit_error", "Rate limited (fake)"),
    "claude-fake-500": (500, "api_error", "Internal server error (fake)"),
    "claude-fake-400": (400, "invalid_request_error", "Bad request (fake)"),
}
SECRET_HEADERS = ("x-api-key", "authorization")
MALFORMED = ("fake-bad-chunks", "fake-bad-first-chunk")
BAD_PROMPT_TOKENS = {
    "fake-usage-huge": 5e9,
    "fake-usage-negative": -7,
    "fake-usage-string": "many",
}
MALFORMED_CHUNKS = (b'data: {"choices": [\n\n', b"data: not json at all\n\n")


@dataclass
class FakeBehaviour:
    """Server-wide defaults; tests may change them between requests."""

    latency: float = 0.0
    slow_latency: float = 1.0
    chunks: int = 4
    chunk_delay: float = 0.0
    timeout_sleep: float = 30.0
    # Of an Anthropic answer's prompt tokens, how many it reports read from /
    # written to the prompt cache (at most the prompt's).
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # The next `fail_next` requests (whatever their model) answer 429, with a
    # Retry-After header of `retry_after` seconds when it is set.
    fail_next: int = 0
    retry_after: float | None = None


@dataclass
class FakeProviderState:
    behaviour: FakeBehaviour = field(default_factory=FakeBehaviour)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # When each stream whose client (the gateway) went away mid-way was found cut
    # (time.monotonic(), at the next chunk's write).
    streams_abandoned: list[float] = field(default_factory=list)

    @property
    def request_count(self) -> int:
        with self.lock:
            return len(self.requests)

    def record(self, path: str, headers: dict[str, str], body: Any) -> None:
        with self.lock:
            self.requests.append({"path": path, "headers": headers, "body": body})


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        )
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _message_text(message.get("content"))
    return ""


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    characters = sum(len(_message_text(m.get("content"))) for m in messages)
    return max(1, math.ceil(characters / 4))


def _json_answer(response_format: dict[str, Any], text: str) -> str:
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    defaults = {"string": text, "number": 0, "integer": 0, "boolean": False}
    document = {
        name: defaults.get(spec.get("type"), [] if spec.get("type") == "array" else {})
        for name, spec in (schema.get("properties") or {}).items()
    }
    return json.dumps(document or {"echo": text})


def strict_refusal(body: dict[str, Any]) -> str | None:
    """What OpenAI would refuse in this request (the `param` at fault), if anything."""
    for number, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        parameters = function.get("parameters") if isinstance(function, dict) else None
        if parameters is not None and (
            not isinstance(parameters, dict) or parameters.get("type") != "object"
        ):
            return f"tools[{number}].function.parameters"
    for number, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            image = part.get("image_url") if isinstance(part, dict) else None
            url = image.get("url") if isinstance(image, dict) else None
            if image is not None and not str(url).startswith(
                ("http://", "https://", "data:")
            ):
                return f"messages[{number}].content"
    return None


def completion_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The deterministic answer to a request: content or tool calls, and usage."""
    messages = body.get("messages") or []
    text = _last_user_text(messages)
    tools = body.get("tools") or []
    response_format = body.get("response_format") or {}
    tool_calls = None
    content: str | None = f"Echo: {text}"
    finish_reason = "stop"
    if tools and body.get("tool_choice") != "none":
        function = tools[0].get("function", {})
        tool_calls = [
            {
                "id": "call_fake_1",
                "type": "function",
                "function": {
                    "name": function.get("name", "tool"),
                    "arguments": json.dumps({"input": text}),
                },
            }
        ]
        content, finish_reason = None, "tool_calls"
    elif response_format.get("type") in ("json_schema", "json_object"):
        content = _json_answer(response_format, text)
    completion_tokens = max(1, len((content or "").split())) if content else 5
    if body.get("max_tokens") and completion_tokens > body["max_tokens"]:
        completion_tokens = body["max_tokens"]
    prompt_tokens = _prompt_tokens(messages)
    return {
        "content": content,
        "tool_calls": tool_calls,
        "finish_reason": finish_reason,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else _message_text(system)


def messages_answer(body: dict[str, Any], behaviour: FakeBehaviour) -> dict[str, Any]:
    """The deterministic Anthropic message answering a Messages API request."""
    messages = body.get("messages") or []
    text = _last_user_text(messages)
    tools = body.get("tools") or []
    tool_choice = body.get("tool_choice") or {}
    content: list[dict[str, Any]]
    if tools and tool_choice.get("type") != "none":
        content = [
            {
                "type": "tool_use",
                "id": "toolu_fake_1",
                "name": tools[0].get("name", "tool"),
                "input": {"input": text},
            }
        ]
        stop_reason, output_tokens = "tool_use", 5
    else:
        answer = f"Echo: {text}"
        content = [{"type": "text", "text": answer}]
        stop_reason, output_tokens = "end_turn", len(answer.split())
    if body.get("max_tokens"):
        output_tokens = min(output_tokens, body["max_tokens"])
    system = {"content": _system_text(body.get("system"))}
    prompt_tokens = _prompt_tokens([system, *messages])
    cache_read = min(behaviour.cache_read_tokens, prompt_tokens)
    cache_write = min(behaviour.cache_write_tokens, prompt_tokens - cache_read)
    return {
        "id": f"msg_fake_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": body.get("model"),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt_tokens - cache_read - cache_write,
            "output_tokens": output_tokens,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


def _sse_event(payload: dict[str, Any]) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


def _message_events(message: dict[str, Any], chunks: int) -> list[dict[str, Any]]:
    """A message as Anthropic streams it (without usage when it has none)."""
    usage = message.get("usage")
    start = {**message, "content": [], "stop_reason": None}
    if usage is not None:
        start["usage"] = {**usage, "output_tokens": 1}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            opened = {**block, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": piece}
                for piece in _split(json.dumps(block["input"]), chunks)
            ]
        else:
            opened = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in _split(block["text"], chunks)
            ]
        events.append(
            {"type": "content_block_start", "index": index, "content_block": opened}
        )
        events.extend(
            {"type": "content_block_delta", "index": index, "delta": delta}
            for delta in deltas
        )
        events.append({"type": "content_block_stop", "index": index})
    end: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if usage is not None:
        end["usage"] = {"output_tokens": usage["output_tokens"]}
    events += [end, {"type": "message_stop"}]
    return events


def _embedding_inputs(value: Any) -> list[str | list[int]]:
    if isinstance(value, str) or (
        isinstance(value, list) and value and isinstance(value[0], int)
    ):
        return [value]
    return list(value) if isinstance(value, list) else [str(value)]


def _vector(item: str | list[int], dimensions: int) -> list[float]:
    """A unit-free, deterministic vector of `dimensions` floats for one input."""
    seed = json.dumps(item).encode()
    values = []
    for position in range(dimensions):
        digest = hashlib.sha256(seed + position.to_bytes(4, "big")).digest()
        values.append(round(int.from_bytes(digest[:4], "big") / 2**31 - 1, 6))
    return values


def embedding_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The deterministic answer to an embeddings request, with usage."""
    dimensions = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    inputs = _embedding_inputs(body.get("input"))
    data = []
    for index, item in enumerate(inputs):
        vector: list[float] | str = _vector(item, dimensions)
        if body.get("encoding_format") == "base64":
            packed = struct.pack(f"<{dimensions}f", *vector)
            vector = base64.b64encode(packed).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    tokens = sum(
        len(item) if isinstance(item, list) else max(1, math.ceil(len(item) / 4))
        for item in inputs
    )
    return {
        "object": "list",
        "data": data,
        "model": body.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return [""]
    size = max(1, math.ceil(len(text) / max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Small writes go out at once; with Nagle each answer waited ~40 ms for an ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and demos do not need an access log."""

    def _number(self, header: str, default: float) -> float:
        try:
            return float(self.headers.get(header, default))
        except ValueError:
            return default

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(payload).encode())

    def _send_raw(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": []})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        if path in ANTHROPIC_PATHS:
            for name in SECRET_HEADERS:
                if name in headers:
                    headers[name] = "…" + headers[name][-4:]
        self.server.state.record(path, headers, body)
        if path not in COMPLETION_PATHS + EMBEDDING_PATHS + ANTHROPIC_PATHS:
            self._send_json(404, {"error": {"message": "not found"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body must be JSON"}})
            return
        model = str(body.get("model", "fake-echo")).rsplit("/", 1)[-1]
        if path in ANTHROPIC_PATHS:
            if self._wait_or_fail(model, ANTHROPIC_FAILURES):
                self._anthropic_answer(body, model)
            return
        if self._failed_on_purpose():
            return
        if not self._wait_or_fail(model, FAILURES):
            return
        if path in EMBEDDING_PATHS:
            self._embed(body, model)
        else:
            self._answer(body, model)

    def _failed_on_purpose(self) -> bool:
        """A 429 while the behaviour's `fail_next` lasts (then False)."""
        state = self.server.state
        with state.lock:
            if state.behaviour.fail_next <= 0:
                return False
            state.behaviour.fail_next -= 1
            retry_after = state.behaviour.retry_after
        error = {"message": "Rate limited (fake)", "type": "rate_limit_exceeded"}
        data = json.dumps({"error": error}).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if retry_after is not None:
            self.send_header("Retry-After", f"{retry_after:g}")
        self.end_headers()
        self.wfile.write(data)
        return True

    def _wait_or_fail(
        self, model: str, failures: dict[str, tuple[int, str, str]]
    ) -> bool:
        """Sleep the model's latency; answer its failure, if any (then False), in
        OpenAI's or (for ANTHROPIC_FAILURES) Anthropic's shape."""
        behaviour = self.server.state.behaviour
        latency = self._number("X-Fake-Latency", behaviour.latency)
        if model == "fake-slow":
            latency = max(latency, behaviour.slow_latency)
        if model == "fake-timeout":
            latency = behaviour.timeout_sleep
        if latency:
            time.sleep(latency)
        if model not in failures:
            return True
        status, code, message = failures[model]
        if failures is ANTHROPIC_FAILURES:
            error = {"type": "error", "error": {"type": code, "message": message}}
        else:
            error = {"error": {"message": message, "type": code, "code": code}}
        self._send_json(status, error)
        return False

    def _anthropic_answer(self, body: dict[str, Any], model: str) -> None:
        message = messages_answer(body, self.server.state.behaviour)
        if model == "claude-fake-no-usage":
            del message["usage"]
        if body.get("stream"):
            self._anthropic_stream(model, message)
        elif model == "claude-fake-break-stream":
            error = {"type": "api_error", "message": "broken (fake)"}
            self._send_json(500, {"type": "error", "error": error})
        else:
            self._send_json(200, message)

    def _anthropic_stream(self, model: str, message: dict[str, Any]) -> None:
        behaviour = self.server.state.behaviour
        chunks = int(self._number("X-Fake-Chunks", behaviour.chunks))
        delay = self._number("X-Fake-Chunk-Delay", behaviour.chunk_delay)
        self._stream_headers()
        deltas = 0
        try:
            for event in _message_events(message, chunks):
                if event["type"] == "content_block_delta":
                    if model == "claude-fake-break-stream" and deltas == 2:
                        # Drop the connection without the final zero-length chunk.
                        self.close_connection = True
                        return
                    deltas += 1
                self._write_chunk(_sse_event(event))
                if delay and event["type"] == "content_block_delta":
                    time.sleep(delay)
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _embed(self, body: dict[str, Any], model: str) -> None:
        answer = embedding_answer(body)
        if model == "fake-no-usage":
            del answer["usage"]
        self._send_json(200, answer)

    def _answer(self, body: dict[str, Any], model: str) -> None:
        refused = strict_refusal(body) if model == "fake-strict" else None
        if refused is not None:
            error = {
                "message": f"Invalid value for '{refused}' (fake)",
                "type": "invalid_request_error",
                "param": refused,
                "code": "invalid_value",
            }
            self._send_json(400, {"error": error})
            return
        answer = completion_answer(body)
        if model == "fake-no-usage":
            answer["usage"] = None
        elif model in BAD_PROMPT_TOKENS:
            answer["usage"]["prompt_tokens"] = BAD_PROMPT_TOKENS[model]
        elif model == "fake-usage-details":
            usage = answer["usage"]
            usage["prompt_tokens_details"] = {
                "cached_tokens": usage["prompt_tokens"] // 2
            }
            usage["completion_tokens_details"] = {"reasoning_tokens": 1}
        elif model == "fake-filtered":
            answer.update(content="", tool_calls=None, finish_reason="content_filter")
            answer["usage"]["total_tokens"] -= answer["usage"]["completion_tokens"]
            answer["usage"]["completion_tokens"] = 0
        if body.get("stream"):
            self._stream(body, model, answer)
        elif model == "fake-break-stream":
            self._send_json(500, {"error": {"message": "broken (fake)"}})
        elif model in MALFORMED:
            self._send_raw(200, b'{"id": "chatcmpl-fake", "choices": [')
        else:
            self._send_json(200, self._completion(model, answer, body))

    def _completion(
        self, model: str, answer: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """`n` answers (the same one), with logprobs when asked for."""
        message: dict[str, Any] = {"role": "assistant", "content": answer["content"]}
        if answer["tool_calls"]:
            message["tool_calls"] = answer["tool_calls"]
        n = body.get("n") or 1
        choices = [
            {
                "index": index,
                "message": message,
                "finish_reason": answer["finish_reason"],
            }
            for index in range(n)
        ]
        if body.get("logprobs"):
            words = (answer["content"] or "").split()
            for choice in choices:
                choice["logprobs"] = {
                    "content": [
                        {
                            "token": word,
                            "logprob": -0.25,
                            "bytes": None,
                            "top_logprobs": [],
                        }
                        for word in words
                    ]
                }
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [] if model == "fake-empty" else choices,
        }
        if answer["usage"] is not None:
            usage = dict(answer["usage"])
            if n > 1:
                usage["completion_tokens"] *= n
                usage["total_tokens"] = (
                    usage["prompt_tokens"] + usage["completion_tokens"]
                )
            completion["usage"] = usage
        return completion

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream_headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream(self, body: dict[str, Any], model: str, answer: dict[str, Any]) -> None:
        behaviour = self.server.state.behaviour
        chunks = int(self._number("X-Fake-Chunks", behaviour.chunks))
        delay = self._number("X-Fake-Chunk-Delay", behaviour.chunk_delay)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._stream_headers()
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload = {**base, "choices": choices, **extra}
            return f"data: {json.dumps(payload)}\n\n".encode()

        deltas: list[dict[str, Any]]
        if answer["tool_calls"]:
            calls = [{"index": i, **c} for i, c in enumerate(answer["tool_calls"])]
            deltas = [{"role": "assistant", "tool_calls": calls}]
        else:
            deltas = [{"content": piece} for piece in _split(answer["content"], chunks)]
            deltas[0] = {"role": "assistant", **deltas[0]}
        try:
            if model == "fake-empty":
                self._write_chunk(b"data: [DONE]\n\n")
                self._write_chunk(b"")
                return
            if model == "fake-bad-first-chunk":
                self._write_chunk(MALFORMED_CHUNKS[0])
            for number, delta in enumerate(deltas):
                if model == "fake-break-stream" and number == 2:
                    # Drop the connection without the final zero-length chunk.
                    self.close_connection = True
                    return
                self._write_chunk(
                    frame([{"index": 0, "delta": delta, "finish_reason": None}])
                )
                if model == "fake-bad-chunks":
                    for malformed in MALFORMED_CHUNKS:
                        self._write_chunk(malformed)
                    self._write_chunk(b"data: [DONE]\n\n")
                    self._write_chunk(b"")
                    return
                if delay:
                    time.sleep(delay)
            if model == "fake-break-stream":
                self.close_connection = True
                return
            self._write_chunk(
                frame(
                    [
                        {
                            "index": 0,
                            "delta": {},
                            "finish_reason": answer["finish_reason"],
                        }
                    ]
                )
            )
            if include_usage and answer["usage"] is not None:
                self._write_chunk(frame([], usage=answer["usage"]))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-stream: nothing left to do.
            self.close_connection = True
            with self.server.state.lock:
                self.server.state.streams_abandoned.append(time.monotonic())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bursts of concurrent clients must queue, not be refused (the default is 5).
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, port: int, state: FakeProviderState) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up are part of the job: stay quiet."""


@dataclass
class FakeProvider:
    """A running fake provider (see `fake_provider_start`)."""

    server: _Server
    thread: threading.Thread
    state: FakeProviderState

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_api_base(self) -> str:
        """The api_base of an `anthropic/…` alias: litellm appends `/v1/messages`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_count(self) -> int:
        return self.state.request_count

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fake_provider_start(
    *, port: int = 0, behaviour: FakeBehaviour | None = None
) -> FakeProvider:
    """Serve the fake provider from a daemon thread on 127.0.0.1:`port` (0: any)."""
    state = FakeProviderState(behaviour=behaviour or FakeBehaviour())
    server = _Server(port, state)
    thread = threading.Thread(
        target=server.serve_forever, name="fake-provider", daemon=True
    )
    thread.start()
    return FakeProvider(server=server, thread=thread, state=state)
