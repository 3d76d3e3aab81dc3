"""Gunicorn's worker class: uvicorn's, with a shutdown that records cut calls (and
exports the last spans, tracing on).

On SIGTERM a worker stops accepting and lets open streams finish; gunicorn's master
SIGKILLs it when `graceful_timeout` runs out, and a call killed that way is never
recorded (its job stays in progress, unbilled for what it used). So this worker
cuts the calls still open a little before that deadline (`jobs.pipeline.calls_cut`)
and lets them record themselves while the request is still being served: a cut
stream is billed for what it used, as for a client that goes away.

(uvicorn's own `timeout_graceful_shutdown` cannot do this: it cancels the request
task while Django's streaming task still has the recording to do.)
"""

from __future__ import annotations

import asyncio
import socket
import sys

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

# Seconds kept before the master's SIGKILL for the cut calls to record themselves
# (a recording is one or two short transactions; this leaves room for a busy pool).
RECORDING_SECONDS = 3.0


class _Server(Server):
    cut_after: float = 0.0

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from jobs.pipeline import calls_cut  # Django is set up by now
        from saas_litellm.tracing import tracing_flush

        cut = asyncio.get_running_loop().call_later(self.cut_after, calls_cut)
        try:
            await super().shutdown(sockets)
        finally:
            cut.cancel()
            # Last chance: uvicorn then ends the worker by raising the SIGTERM it
            # caught again, which runs no exit hook.
            tracing_flush()


class GracefulUvicornWorker(UvicornWorker):
    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        graceful = float(self.cfg.graceful_timeout)
        server.cut_after = graceful - min(RECORDING_SECONDS, graceful / 2)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
