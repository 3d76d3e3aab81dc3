"""The ASGI stack stays asynchronous end to end, and still serves the admin's assets."""

from __future__ import annotations

from http import HTTPStatus

import requests
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient
from django.utils.module_loading import import_string

from jobs.tests.live import asgi_served


def test_no_middleware_forces_requests_through_a_thread():
    # One synchronous-only middleware makes Django run every request through a
    # worker thread and back to the event loop.
    sync_only = [
        path
        for path in settings.MIDDLEWARE
        if not getattr(import_string(path), "async_capable", False)
    ]
    assert sync_only == []


def test_the_admin_stylesheet_is_served_under_asgi(db):
    with asgi_served() as url:
        response = requests.get(f"{url}/static/admin/css/base.css", timeout=10)
    assert response.status_code == HTTPStatus.OK
    assert response.headers["Content-Type"].startswith("text/css")


def test_an_api_request_runs_no_middleware_hook_in_a_thread(team_key, monkeypatch):
    """Under ASGI, Django runs a synchronous hook through sync_to_async; the API's
    requests must reach the view with none (hooks without I/O run inline, the
    browser-only middleware is skipped)."""
    from asgiref import sync

    hopped: list[str] = []
    original = sync.SyncToAsync.__init__

    def recording(self, func, *args, **kwargs):
        hopped.append(getattr(func, "__qualname__", repr(func)))
        original(self, func, *args, **kwargs)

    monkeypatch.setattr(sync.SyncToAsync, "__init__", recording)

    async def run():
        return await AsyncClient().get(
            "/v1/models", headers={"Authorization": f"Bearer {team_key}"}
        )

    response = async_to_sync(run)()
    assert response.status_code == HTTPStatus.OK
    # The security headers are still set, now on the event loop.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    hooks = [name for name in hopped if ".process_" in name]
    assert hooks == []
    assert hopped, "the view's own database work still goes through a thread"
