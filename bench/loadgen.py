"""A light HTTP/1.1 load generator for `bench/run.py` (its own process).

Raw asyncio streams, keep-alive connections, one coroutine per connection: it spends
far less CPU per request than an HTTP library, which matters on a 2-core machine
where the generator competes with the servers it measures.

    python bench/loadgen.py '<spec as JSON>'

The spec: url, headers, body (JSON object), stream (bool), concurrency, duration
(seconds; each connection stops sending after it) or requests (a total), timeout,
first (optional: the bytes whose first arrival is the first token; default
`"content"`, as in a chat completion chunk), last (optional: what a complete stream
contains; default `[DONE]`), ramp (optional: the connections start evenly over
this many seconds instead of at once).
Prints one JSON document: per-request latencies (ms) of the successful requests, time
to first content chunk for streams, status counts, chunks received, wall time.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit

# An error object in a stream (a Responses event's `"error": null` is none).
ERROR_EVENT = re.compile(rb'"error":\s*\{')


class Failure(Exception):
    """A request that did not complete (connection error, timeout, bad framing)."""


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, head: bytes, body: bytes, started: float, marker: bytes = b'"content"'
    ) -> tuple[int, bytes, float | None, int]:
        """Send one request; return status, body, first-content time, data frames."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise Failure("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.lower() == b"close":
                close = True
        first: float | None = None
        frames = 0
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data = await self.reader.readexactly(size + 2)
                if first is None and marker in data:
                    first = time.perf_counter() - started
                frames += data.count(b"data:")
                parts.append(data[:-2])
            payload = b"".join(parts)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:  # read to close
            payload = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, payload, first, frames


async def worker(
    spec: dict[str, Any], deadline: float, out: dict[str, Any], delay: float = 0.0
) -> None:
    url = urlsplit(spec["url"])
    host, port = url.hostname or "127.0.0.1", url.port or 80
    body = json.dumps(spec["body"]).encode()
    headers = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "keep-alive",
        **spec.get("headers", {}),
    }
    head = (
        f"POST {url.path} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    connection = Connection(host, port)
    timeout = spec.get("timeout", 30)
    stream = spec.get("stream", False)
    marker = spec.get("first", '"content"').encode()
    end = spec.get("last", "[DONE]").encode()
    try:
        await asyncio.sleep(delay)
        while time.perf_counter() < deadline:
            if out["budget"] is not None:
                if out["budget"] <= 0:
                    return
                out["budget"] -= 1
            started = time.perf_counter()
            try:
                status, payload, first, frames = await asyncio.wait_for(
                    connection.request(head, body, started, marker), timeout
                )
            except (OSError, asyncio.IncompleteReadError, Failure, ValueError) as exc:
                out["errors"][type(exc).__name__] = (
                    out["errors"].get(type(exc).__name__, 0) + 1
                )
                connection.close()
                await asyncio.sleep(0.01)
                continue
            except TimeoutError:
                out["errors"]["timeout"] = out["errors"].get("timeout", 0) + 1
                connection.close()
                continue
            elapsed = time.perf_counter() - started
            out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
            ok = status == 200
            if ok and stream:
                ok = end in payload and not ERROR_EVENT.search(payload)
            if not ok:
                out["failed"] += 1
                if len(out["samples"]) < 3:
                    out["samples"].append(f"{status}: {payload[:300]!r}")
                continue
            out["ok"] += 1
            out["latencies_ms"].append(round(elapsed * 1000, 3))
            if stream:
                out["frames"] += frames
                if first is not None:
                    out["ttft_ms"].append(round(first * 1000, 3))
    finally:
        connection.close()


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ok": 0,
        "failed": 0,
        "statuses": {},
        "errors": {},
        "latencies_ms": [],
        "ttft_ms": [],
        "frames": 0,
        "samples": [],
        "budget": spec.get("requests"),
    }
    duration = spec.get("duration") or 3600
    started = time.perf_counter()
    deadline = started + duration
    ramp = spec.get("ramp", 0.0)  # connections start evenly over this many seconds
    await asyncio.gather(
        *(
            worker(spec, deadline, out, ramp * number / spec["concurrency"])
            for number in range(spec["concurrency"])
        )
    )
    out["wall_s"] = time.perf_counter() - started
    out.pop("budget")
    return out


if __name__ == "__main__":
    result = asyncio.run(main(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(result))
