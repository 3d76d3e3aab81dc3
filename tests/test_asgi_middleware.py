"""The ASGI stack stays asynchronous end to end, and still serves the admin's assets."""

from __future__ import annotations

from http import HTTPStatus

import requests
from django.conf import settings
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
