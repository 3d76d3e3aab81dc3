"""Real servers for tests: a free loopback port, and the project's ASGI app served by
uvicorn from a thread (streams reach the client as they are produced, and a client
can really hang up mid-stream)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def asgi_served() -> Iterator[str]:
    """The ASGI app under uvicorn in a thread of the test process; yields its URL."""
    import uvicorn

    config = uvicorn.Config(
        "saas_litellm.asgi:application",
        host="127.0.0.1",
        port=free_port(),
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
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
        thread.join(timeout=10)
