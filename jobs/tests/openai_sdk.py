"""Helpers of the /v1 tests: the project's ASGI app under uvicorn, and SDK clients.

The /v1 endpoints are async views whose streams only an ASGI server sends as they
come, so the official `openai` package is pointed at a real uvicorn server running in
a thread of the test process (ports 18600-18699, this suite's share).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

PORTS = range(18600, 18700)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@contextmanager
def asgi_served() -> Iterator[str]:
    """saas_litellm.asgi served by uvicorn from a thread; yields its URL."""
    import uvicorn

    config = uvicorn.Config(
        "saas_litellm.asgi:application",
        host="127.0.0.1",
        port=_free_port(),
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="openai-asgi", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the ASGI test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def sdk(server: str, key: str, **options: Any) -> openai.OpenAI:
    """The official client as a team configures it: base_url …/v1, the virtual key."""
    return openai.OpenAI(
        base_url=f"{server}/v1", api_key=key, max_retries=0, timeout=20, **options
    )


def async_sdk(server: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{server}/v1", api_key=key, max_retries=0, timeout=20
    )


def hello(**overrides: Any) -> dict[str, Any]:
    """create() arguments of a one-message chat with the `chat` alias."""
    return {
        "model": "chat",
        "messages": [{"role": "user", "content": "hello world"}],
        **overrides,
    }
