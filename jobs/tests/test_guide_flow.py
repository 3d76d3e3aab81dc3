"""The published guide's job flow, with Python `requests` against a live server."""

from __future__ import annotations

import re

import pytest
import requests

# live_server flushes the database after each test, which SQLite's append-only ledger
# trigger refuses (DELETE); PostgreSQL flushes with TRUNCATE.
pytestmark = pytest.mark.postgres


def test_the_guides_python_example_creates_a_job(live_server, team_key, chat_alias):
    api_url = f"{live_server.url}/api"
    headers = {
        "Authorization": f"Bearer {team_key}",
        "Content-Type": "application/json",
    }
    response = requests.post(
        f"{api_url}/jobs/create",
        headers=headers,
        json={"team_id": "acme-corp", "job_type": "document_analysis"},
        timeout=10,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert re.fullmatch(r"[0-9a-f-]{36}", body["job_id"])
    assert body["created_at"].endswith("Z")


def test_the_guides_wrong_example_gets_401(live_server, team):
    response = requests.post(
        f"{live_server.url}/api/jobs/create",
        json={"team_id": "acme-corp", "job_type": "test"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Invalid or missing API key",
        "code": "invalid_api_key",
        "request_id": response.headers["X-Request-Id"],
    }


def test_a_whole_job_flow_works_with_requests(live_server, team_key, chat_alias):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {team_key}"
    api_url = f"{live_server.url}/api"
    job = session.post(
        f"{api_url}/jobs/create",
        json={"team_id": "acme-corp", "job_type": "test"},
        timeout=10,
    ).json()
    call = session.post(
        f"{api_url}/jobs/{job['job_id']}/llm-call",
        json={"model": "chat", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=10,
    )
    assert call.status_code == 200
    assert call.json()["response"]["content"] == "Echo: Hi"
    done = session.post(
        f"{api_url}/jobs/{job['job_id']}/complete",
        json={"status": "completed"},
        timeout=10,
    )
    assert done.json()["costs"]["credits_charged"] == 1
