"""ASGI entry point: what gunicorn's uvicorn workers serve (see Procfile)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

application = get_asgi_application()


def request_start_unhooked() -> None:
    """In each server worker, once (gunicorn.conf.py, post_fork): Django's
    request-start receivers (close_old_connections, reset_queries) leave the
    request_started signal. Under the ASGI handler they run in the thread that
    asgiref makes for the request, which is new, so its connections are too: they
    have nothing to close or reset, and sending them the signal cost a thread hop
    before every view, with that thread kept for the whole request. The
    request_finished signal keeps close_old_connections: it closes what the
    request's synchronous code (the admin, DRF views) opened in that thread."""
    from django.core import signals
    from django.db import close_old_connections, reset_queries

    signals.request_started.disconnect(close_old_connections)
    signals.request_started.disconnect(reset_queries)
