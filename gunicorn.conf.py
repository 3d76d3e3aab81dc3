"""Gunicorn settings shared by the Procfile, `make run` and the benchmarks.

Uvicorn workers serve the ASGI app, so hundreds of open streams need no extra threads.
`preload_app` imports Django and litellm once in the master: workers fork warm.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import Any

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8003')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "saas_litellm.asgi_worker.GracefulUvicornWorker"
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
SWITCH_INTERVAL_SECONDS = float(os.environ.get("PYTHON_SWITCH_INTERVAL", "0.0005"))
GC_YOUNG_THRESHOLD = 50_000
accesslog = "-" if os.environ.get("ACCESS_LOG", "") else None
if os.environ.get("LOG_FORMAT") == "json":
    # Gunicorn's own lines (boot, worker exits and timeouts; uvicorn's worker writes
    # through them too) in the app's JSON, so a log shipper reads one format.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "saas_litellm.logs.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            name: {"level": "INFO", "handlers": ["console"], "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }
# Gunicorn's control socket (for `gunicornc`) defaults to one path per user: a second
# instance on the machine (a benchmark beside `make run`) took it over and deleted it
# on exit. Off unless GUNICORN_CONTROL_SOCKET names a path for this instance alone.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

# Prometheus in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (the Procfile
# and `make run` give each instance a temporary directory of its own): every worker
# writes its metrics to files there and /metrics sums them, whichever worker
# answers. It must be in the environment before anything imports prometheus_client,
# which the preloaded app does before any hook runs; and two instances must never
# share a directory. Without it each worker serves its own figures only.
METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if METRICS_DIR:
    os.makedirs(METRICS_DIR, exist_ok=True)


def _metrics_files_remove() -> None:
    for name in os.listdir(METRICS_DIR):
        if name.endswith(".db"):
            os.remove(os.path.join(METRICS_DIR, name))


def on_starting(server: object) -> None:
    """In the master, before forking: empty the metrics directory (counters start
    from zero with the instance), import every view (litellm included) and warm
    litellm once, so workers fork warm and the first request is not slow. Touches no
    database: connections must not be shared across the fork."""
    if METRICS_DIR:
        _metrics_files_remove()

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


def child_exit(server: object, worker: Any) -> None:
    """In the master, when a worker is gone: drop its live gauges (open streams)."""
    if METRICS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def on_exit(server: object) -> None:
    """In the master, last: the instance's figures go with it (and its temporary
    directory, once empty)."""
    if METRICS_DIR:
        _metrics_files_remove()
        with contextlib.suppress(OSError):
            os.rmdir(METRICS_DIR)


def post_fork(server: object, worker: object) -> None:
    """In each worker: hand the interpreter lock over sooner. A worker's event loop
    (relaying streams) and its database threads share one lock; with Python's
    default of 5 ms, a thread whose statement has answered waits up to that long to
    send its next one, holding its transaction's row locks meanwhile, and one
    team's requests queue behind it. Measured with 1 000 streams opened over 10 s
    on 2 workers (bench scenario 8, without the pool's busy wait): at 5 ms 747
    admitted in time, at 0.5 ms 974; c=32 requests/s up ~20 %.

    And collect garbage less often: with Python's default (a young collection every
    700 allocations), a request paid for several, 4 % of a worker's CPU at c=32;
    every 50 000 allocations, requests/s at c=32 rose 5-10 % in A/B runs.

    And run the API's database work on threads kept for the worker's life, with no
    thread hop before a view (jobs/pipeline.py, saas_litellm/asgi.py)."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)

    from jobs.pipeline import database_threads_start
    from saas_litellm.asgi import request_start_unhooked

    database_threads_start()
    request_start_unhooked()
