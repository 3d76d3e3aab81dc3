"""A real webhook receiver on 127.0.0.1, workers run for real, and charges made
through the real ledger services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker

from alerts.services import webhook_endpoint_create
from credits.services import credit_capture

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next status of `script` (then 200). With `hold`
    set, the first request waits until `release` is set before answering."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    hold: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_ids(self) -> list[str]:
        return [r.json["id"] for r in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                first = not state.received
                state.received.append(Received(dict(self.headers), body))
                status = state.script.pop(0) if state.script else 200
            if state.hold and first:
                state.arrived.set()
                state.release.wait(30)
                return  # the connection closes unanswered
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook(receiver, team):
    """An endpoint for `team` at the receiver: (endpoint, secret)."""
    created = webhook_endpoint_create(url=receiver.url, team=team, actor="tests")
    return created.endpoint, created.secret


def charge(team, credits: int) -> None:
    credit_capture(team=team, job_id=uuid.uuid4(), credits=credits)


def run_worker(worker_id: str = "test") -> None:
    """One django-tasks-db worker, in this process: every ready task, then return."""
    try:
        Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        ).run()
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()


def database_url() -> str:
    """The test database, for worker processes (PostgreSQL only)."""
    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    auth = params["USER"] + (f":{params['PASSWORD']}" if params.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{port}/{params['NAME']}"


def worker_process(*args: str, **env: str) -> subprocess.Popen:
    """`manage.py worker` in a process of its own, on the test database."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--verbosity", "0", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATABASE_POOL": "false",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
