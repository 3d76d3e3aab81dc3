"""With the database unreachable, /ready and every database-bound endpoint answer a
JSON 503 within 2 s (short connect and pool timeouts, RequestGuardMiddleware).

The server runs in a subprocess whose DATABASE_URL points at a closed port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from http import HTTPStatus
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WELL_FORMED_KEY = "sk-" + "0" * 32

# Each request is timed after a warm-up request has imported every view.
PROBE = """
import json, sys, time
import django
from django.test.utils import setup_test_environment
django.setup()
setup_test_environment()
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient, Client

clients = {
    "sync": Client(headers={"X-Admin-Key": settings.MASTER_KEY}),
    "async": AsyncClient(),
}
clients["sync"].get("/health")
results = {}
for name, kind, method, path, key in json.loads(sys.argv[1]):
    request = getattr(clients[kind], method)
    if kind == "async":
        request = async_to_sync(request)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.monotonic()
    response = request(path, headers=headers)
    seconds = time.monotonic() - started
    results[name] = [response.status_code, seconds, response.content.decode()]
print(json.dumps(results))
"""

LLM_CALL = f"/api/jobs/{uuid.uuid4()}/llm-call"
REQUESTS = [
    ("ready", "sync", "get", "/ready", None),
    ("admin list", "sync", "get", "/api/organizations", None),
    ("team key", "sync", "get", "/api/teams/verify", WELL_FORMED_KEY),
    ("job create", "sync", "post", "/api/jobs/create", WELL_FORMED_KEY),
    ("llm call", "async", "post", LLM_CALL, WELL_FORMED_KEY),
]


@pytest.fixture(scope="module")
def answers() -> dict[str, list]:
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/unreachable",
        "DJANGO_SETTINGS_MODULE": "saas_litellm.settings",
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(REQUESTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def test_ready_is_a_503_within_2_seconds(answers):
    status, seconds, _ = answers["ready"]
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert seconds < 2


@pytest.mark.parametrize("name", ["admin list", "team key", "job create", "llm call"])
def test_a_database_bound_endpoint_is_a_json_503_within_2_seconds(answers, name):
    status, seconds, body = answers[name]
    assert status == HTTPStatus.SERVICE_UNAVAILABLE
    assert json.loads(body)["code"] == "database_unavailable"
    assert seconds < 2
