"""A server worker runs the API's database work on its database threads
(jobs/pipeline.py, database_threads_start): any of them, each connection handed
back to the pool when the work is done."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
import requests
from asgiref.sync import async_to_sync
from django.db import connection

from jobs import pipeline
from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import call_body

pytestmark = [
    pytest.mark.postgres,  # a transactional test: SQLite's ledger trigger refuses flush
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def database_threads(monkeypatch):
    threads = ThreadPoolExecutor(2, thread_name_prefix="database-test")
    monkeypatch.setattr(pipeline, "_database_threads", threads)
    yield threads
    threads.shutdown()


def _thread_and_connection() -> tuple[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return threading.current_thread().name, connection.connection is not None


def test_work_runs_on_a_database_thread_and_hands_its_connection_back(
    database_threads,
):
    name, connected = async_to_sync(pipeline.in_database(_thread_and_connection))()
    assert name.startswith("database-test")
    assert connected
    # Afterwards no database thread holds a connection.
    for _ in range(4):
        assert database_threads.submit(lambda: connection.connection).result() is None


def test_a_request_served_by_the_threads_is_recorded_and_billed(
    database_threads, asgi_server, team_key, chat_alias, fake_provider
):
    response = requests.post(
        f"{asgi_server}/v1/chat/completions",
        json=call_body(),
        headers={"Authorization": f"Bearer {team_key}"},
        timeout=10,
    )
    assert response.status_code == HTTPStatus.OK
    call = LLMCall.objects.select_related("job").get()
    assert call.status == CallStatus.SUCCEEDED
    assert call.job.credits_charged == int(response.headers["X-Credits-Charged"]) > 0
    served = [t for t in threading.enumerate() if t.name.startswith("database-test")]
    assert served  # made when the admission was handed to them


def test_a_request_queued_past_the_busy_timeout_is_refused_with_nothing_written(
    settings, database_threads, asgi_server, team_key, chat_alias, fake_provider
):
    settings.DATABASE_POOL_BUSY_TIMEOUT = 0.2
    release = threading.Event()
    busy = [database_threads.submit(release.wait, 5) for _ in range(2)]
    threading.Timer(0.5, release.set).start()  # both threads busy for 0.5 s
    try:
        response = requests.post(
            f"{asgi_server}/v1/chat/completions",
            json=call_body(),
            headers={"Authorization": f"Bearer {team_key}"},
            timeout=10,
        )
    finally:
        release.set()
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "database_unavailable"
    assert not LLMCall.objects.exists()
    assert all(future.result() for future in busy)
