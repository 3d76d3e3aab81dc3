"""The published "Team Authentication" guide, run as written against a real server.

The server is started the way `make run` starts it (quickstart on an embedded SQLite
file, then gunicorn with uvicorn workers and ADMIN_LOOPBACK_TRUST), and each request is
the guide's own curl command, with only the port changed and `-s -w` added to read the
status code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
KEY_PATTERN = re.compile(r"^sk-[0-9a-f]{32}$")
UTC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A server started like `make run`, on its own SQLite file and a free port."""
    port = _free_port()
    database = tmp_path_factory.mktemp("devserver") / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DEBUG": "true",
        "ADMIN_LOOPBACK_TRUST": "true",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    quickstart = subprocess.run(
        [sys.executable, "manage.py", "quickstart"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [
            str(gunicorn),
            "saas_litellm.asgi:application",
            "--config",
            "gunicorn.conf.py",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://localhost:{port}"
    try:
        for _ in range(120):
            try:
                if requests.get(f"{base}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("the dev server did not start")
        yield {"base": base, "port": str(port), "quickstart": quickstart.stdout}
    finally:
        server.terminate()
        server.wait(timeout=30)


def curl(server: dict[str, str], command: str) -> tuple[int, dict]:
    """Run one of the guide's curl commands against the test server."""
    command = command.replace("localhost:8003", f"localhost:{server['port']}")
    # A backslash at the end of a line continues the command, as in a shell.
    args = shlex.split(command.replace("\\\n", " "))
    assert args[0] == "curl"
    completed = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = completed.stdout.rpartition("\n")
    return int(status), json.loads(body)


GUIDE_TEAM_CREATE = """curl -X POST http://localhost:8003/api/teams/create \\
  -H "Content-Type: application/json" \\
  -d '{
    "organization_id": "org_acme",
    "team_id": "acme-corp",
    "team_alias": "ACME Corp Team",
    "access_groups": ["gpt-models"],
    "credits_allocated": 1000
  }'"""

GUIDE_TEAM_GET = """curl http://localhost:8003/api/teams/acme-corp \\
  -H "Content-Type: application/json" """

GUIDE_JOB_CREATE = """curl -X POST http://localhost:8003/api/jobs/create \\
  -H "Authorization: Bearer {key}" \\
  -H "Content-Type: application/json" \\
  -d '{{
    "team_id": "acme-corp",
    "job_type": "document_analysis"
  }}'"""


@pytest.fixture(scope="module")
def acme_key(dev_server) -> str:
    status, body = curl(dev_server, GUIDE_TEAM_CREATE)
    assert status == HTTPStatus.CREATED, body
    return body["virtual_key"]


def test_the_quickstart_prints_a_demo_key(dev_server):
    assert re.search(r"sk-[0-9a-f]{32}", dev_server["quickstart"])


def test_health_check_answers_as_the_guide_shows(dev_server):
    assert curl(dev_server, "curl http://localhost:8003/health") == (
        HTTPStatus.OK,
        {"status": "healthy"},
    )


def test_team_create_returns_the_key_once_with_the_guides_fields(dev_server, acme_key):
    status, body = curl(dev_server, GUIDE_TEAM_GET)
    assert KEY_PATTERN.match(acme_key)
    assert status == HTTPStatus.OK
    assert "virtual_key" not in body  # [better]: never shown again
    assert body["team_id"] == "acme-corp"
    assert body["organization_id"] == "org_acme"
    assert body["status"] == "active"
    assert body["credits_allocated"] == 1000
    assert body["credits_remaining"] == 1000


def test_job_create_with_the_guides_curl(dev_server, acme_key):
    status, body = curl(dev_server, GUIDE_JOB_CREATE.format(key=acme_key))
    assert status == HTTPStatus.CREATED
    assert body["status"] == "pending"
    assert UTC_TIMESTAMP.match(body["created_at"])
    assert re.match(r"^[0-9a-f-]{36}$", body["job_id"])


def test_a_placeholder_key_is_refused_with_the_guides_401(dev_server):
    command = GUIDE_JOB_CREATE.format(key="sk-your-virtual-key")
    status, body = curl(dev_server, command)
    assert body.pop("request_id")
    assert (status, body) == (
        HTTPStatus.UNAUTHORIZED,
        {"detail": "Invalid or missing API key", "code": "invalid_api_key"},
    )


def test_verify_returns_the_team_for_the_wrapper_service_example(dev_server, acme_key):
    response = requests.get(
        f"{dev_server['base']}/api/teams/verify",
        headers={"Authorization": f"Bearer {acme_key}"},
        timeout=10,
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json()["team_id"] == "acme-corp"


def test_the_guides_python_requests_examples(dev_server, acme_key):
    api_url = f"{dev_server['base']}/api"
    missing = requests.post(
        f"{api_url}/jobs/create",
        json={"team_id": "acme-corp", "job_type": "test"},
        timeout=10,
    )
    assert missing.status_code == HTTPStatus.UNAUTHORIZED
    assert missing.json() == {
        "detail": "Invalid or missing API key",
        "code": "invalid_api_key",
        "request_id": missing.headers["X-Request-Id"],
    }
    headers = {
        "Authorization": f"Bearer {acme_key}",
        "Content-Type": "application/json",
    }
    created = requests.post(
        f"{api_url}/jobs/create",
        headers=headers,
        json={"team_id": "acme-corp", "job_type": "document_analysis"},
        timeout=10,
    )
    assert created.status_code == HTTPStatus.CREATED
    balance = requests.get(
        f"{api_url}/credits/balance",
        params={"team_id": "acme-corp"},
        headers=headers,
        timeout=10,
    )
    assert balance.status_code == HTTPStatus.OK
    assert balance.json()["team_id"] == "acme-corp"


def test_the_job_flow_with_the_offline_demo_model(dev_server, acme_key):
    api_url = f"{dev_server['base']}/api"
    headers = {"Authorization": f"Bearer {acme_key}"}
    job = requests.post(
        f"{api_url}/jobs/create",
        headers=headers,
        json={"team_id": "acme-corp", "job_type": "document_analysis"},
        timeout=10,
    ).json()
    call = requests.post(
        f"{api_url}/jobs/{job['job_id']}/llm-call",
        headers=headers,
        json={"model": "demo", "messages": [{"role": "user", "content": "Hello"}]},
        timeout=30,
    )
    assert call.status_code == HTTPStatus.OK, call.text
    assert call.json()["response"]["content"]
    assert call.json()["metadata"]["model"] == "demo"
    done = requests.post(
        f"{api_url}/jobs/{job['job_id']}/complete",
        headers=headers,
        json={"status": "completed"},
        timeout=10,
    )
    assert done.status_code == HTTPStatus.OK
    assert done.json()["costs"]["credits_charged"] == 1
