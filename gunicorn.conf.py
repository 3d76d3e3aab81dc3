"""Gunicorn settings shared by the Procfile, `make run` and the benchmarks.

Uvicorn workers serve the ASGI app, so hundreds of open streams need no extra threads.
`preload_app` imports Django and litellm once in the master: workers fork warm.
"""

from __future__ import annotations

import gc
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8003')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
accesslog = "-" if os.environ.get("ACCESS_LOG", "") else None
# Gunicorn's control socket (for `gunicornc`) defaults to one path per user: a second
# instance on the machine (a benchmark beside `make run`) took it over and deleted it
# on exit. Off unless GUNICORN_CONTROL_SOCKET names a path for this instance alone.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def on_starting(server: object) -> None:
    """In the master, before forking: import every view (litellm included) and warm
    litellm once, so workers fork warm and the first request is not slow. Touches no
    database: connections must not be shared across the fork."""
    import django

    django.setup()
    from django.urls import get_resolver

    from jobs.gateway import llm_warm

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    llm_warm()
    # Move what the master built into a permanent generation: the garbage collector
    # then never touches those pages in the workers, so they stay shared (copy on
    # write) instead of being copied into every worker.
    gc.collect()
    gc.freeze()
