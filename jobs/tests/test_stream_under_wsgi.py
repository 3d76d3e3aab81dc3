"""Streams served by a WSGI server (runserver, pytest-django's live_server) work:
the view reads the provider on its own event loop and sends the frames at the end."""

from __future__ import annotations

import pytest
import requests

from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import call_body, sse_events

# live_server flushes with DELETE on SQLite, which the ledger's trigger refuses.
pytestmark = pytest.mark.postgres


def post_stream(live_server, key, path, body):
    response = requests.post(
        f"{live_server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    return sse_events(response.content)


def streamed_text(events):
    chunks = [
        event for event in events if isinstance(event, dict) and event.get("choices")
    ]
    return "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def test_a_job_stream_succeeds_under_wsgi(live_server, team_key, job_id):
    events = post_stream(
        live_server, team_key, f"/api/jobs/{job_id}/llm-call-stream", call_body()
    )
    assert streamed_text(events) == "Echo: hello world"
    assert events[-2]["usage"]["total_tokens"] > 0
    assert events[-1] == "[DONE]"
    assert LLMCall.objects.get().status == CallStatus.SUCCEEDED


def test_a_one_shot_stream_succeeds_under_wsgi(live_server, team_key, chat_alias):
    body = call_body(team_id="acme-corp", job_type="wsgi")
    events = post_stream(
        live_server, team_key, "/api/jobs/create-and-call-stream", body
    )
    assert streamed_text(events) == "Echo: hello world"
    assert Job.objects.get().status == JobStatus.COMPLETED


def test_an_openai_stream_succeeds_under_wsgi(live_server, team_key, chat_alias):
    body = call_body(stream=True, stream_options={"include_usage": True})
    events = post_stream(live_server, team_key, "/v1/chat/completions", body)
    assert streamed_text(events) == "Echo: hello world"
    assert events[-2]["choices"] == []
    assert events[-1] == "[DONE]"
