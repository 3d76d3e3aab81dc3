"""Real server processes for tests: the project under gunicorn (`gunicorn.conf.py`,
one uvicorn worker, DEBUG off) on the test database, and a private redis-server that
a test may stop without disturbing any other."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from jobs.tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path


def database_url() -> str:
    """The test database (pytest-django's `test_…`), as a URL for another process."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def server_env(**overrides: str) -> dict[str, str]:
    """Production settings (DEBUG off) with this test process's secrets, so keys
    made here are valid there."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "MASTER_KEY_NEXT")
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=settings.SECRET_KEY,
        MASTER_KEY=settings.MASTER_KEY,
        VIRTUAL_KEY_PEPPER=settings.VIRTUAL_KEY_PEPPER,
        CREDENTIAL_ENCRYPTION_KEYS=",".join(settings.CREDENTIAL_ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=database_url(),
        # Connections open before the first burst, and time to get one on a busy
        # 2-core machine: a cold pool of 1 answered a burst of 10 with 503s.
        DATABASE_POOL_MIN="4",
        DATABASE_POOL_MAX="8",
        DATABASE_POOL_TIMEOUT="5",
        LLM_TIMEOUT_SECONDS="10",
        WEB_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
    )
    env.update(overrides)
    return env


def gunicorn_start(env: dict[str, str], log: Path) -> Server:
    """`gunicorn … --config gunicorn.conf.py` as the Procfile runs it, on a free port.
    Returns at once: wait with `server_wait`."""
    port = free_port()
    env = {**env, "BIND": f"127.0.0.1:{port}"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "saas_litellm.asgi:application",
             "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return Server(process=process, url=f"http://127.0.0.1:{port}", log=log)


def server_wait(server: Server, seconds: float = 90) -> None:
    """Until the server answers /ready (it reached the database)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if requests.get(f"{server.url}/ready", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server_stop(server)
    pytest.fail(f"the server did not start:\n{server.log.read_text()[-3000:]}")


def server_stop(server: Server, seconds: float = 30) -> int:
    """SIGTERM to gunicorn's master (a graceful shutdown); its exit status."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()


class RedisServer:
    """A redis-server of the test's own on a free port, nothing saved to disk: a
    test may stop it (and start it again) without disturbing any other test."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("needs redis-server on PATH")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushdb()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
