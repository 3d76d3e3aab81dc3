"""The project's fake provider (jobs/fake_provider.py) as the benchmark runs it.

    python bench/fake_provider.py --port N [--latency S] [--chunks N]
        [--chunk-delay S] [--processes N]

One difference from `manage.py fake_provider`, about measuring, not behaviour:
`--processes N` serves the same port from N processes (SO_REUSEPORT), so the provider
is not what limits throughput at concurrency 32.
It needs no Django: the module is plain standard library.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs import fake_provider


class _ReusePortServer(fake_provider._Server):
    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--processes", type=int, default=1)
    options = parser.parse_args()
    fake_provider._Server = _ReusePortServer  # type: ignore[misc]
    for _ in range(options.processes - 1):
        if os.fork() == 0:
            break
    behaviour = fake_provider.FakeBehaviour(
        latency=options.latency,
        chunks=options.chunks,
        chunk_delay=options.chunk_delay,
    )
    provider = fake_provider.fake_provider_start(port=options.port, behaviour=behaviour)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(5)
            # Every request is kept for tests; a benchmark needs none of them.
            with provider.state.lock:
                provider.state.requests.clear()
    finally:
        provider.stop()


if __name__ == "__main__":
    main()
