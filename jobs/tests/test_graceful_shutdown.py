"""SIGTERM to gunicorn (one uvicorn worker, DEBUG off) while a stream is open: the
stream finishes within `graceful_timeout` (GUNICORN_GRACEFUL_TIMEOUT) and its call is
recorded and billed once; one still open near the deadline is cut by the worker
(saas_litellm/asgi_worker.py), recorded and billed for what it used; nothing is
left in progress."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
import requests

from credits.models import EntryType, LedgerEntry
from credits.services import credits_reconcile
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import call_body
from jobs.tests.processes import Server, gunicorn_start, server_env, server_stop
from jobs.tests.processes import server_wait as server_ready

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROMPT = "word " * 40  # echoed back: up to 200 chunks of one character


def started(tmp_path, graceful_timeout: int) -> Server:
    env = server_env(GUNICORN_GRACEFUL_TIMEOUT=str(graceful_timeout))
    server = gunicorn_start(env, tmp_path / "server.log")
    server_ready(server)
    return server


def stream_then_terminate(server: Server, key: str) -> tuple[list[bytes], float]:
    """Open a stream, SIGTERM the master after its first event, read what comes;
    the events read and the seconds the master took to exit."""
    events: list[bytes] = []
    with requests.post(
        f"{server.url}/v1/chat/completions",
        json=call_body(stream=True, messages=[{"role": "user", "content": PROMPT}]),
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    ) as response:
        assert response.status_code == HTTPStatus.OK
        blocks = response.iter_lines(delimiter=b"\n\n")
        events.append(next(blocks))
        signalled = time.monotonic()
        server.process.terminate()
        with contextlib.suppress(requests.RequestException):  # cut by the shutdown
            events.extend(block for block in blocks if block)
    server_stop(server)
    return events, time.monotonic() - signalled


def deductions() -> list[int]:
    entries = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    return list(entries.values_list("amount", flat=True))


def test_an_open_stream_finishes_within_the_graceful_timeout_and_is_billed(
    tmp_path, team_key, chat_alias, fake_provider
):
    fake_provider.state.behaviour.chunks = 20
    fake_provider.state.behaviour.chunk_delay = 0.1
    server = started(tmp_path, graceful_timeout=20)
    events, exit_seconds = stream_then_terminate(server, team_key)
    assert events[-1] == b"data: [DONE]"
    assert exit_seconds < 20
    call = LLMCall.objects.select_related("job").get()
    assert (call.status, call.job.status) == (CallStatus.SUCCEEDED, JobStatus.COMPLETED)
    assert len(deductions()) == 1
    assert credits_reconcile() == {}


def test_a_stream_cut_by_the_shutdown_is_recorded_and_billed_for_what_it_used(
    tmp_path, team_key, chat_alias, fake_provider
):
    """A stream of 15 s against a graceful timeout of 2 s: the worker cuts it a
    second before the master's SIGKILL, tells the client why, records the call and
    bills what it streamed."""
    fake_provider.state.behaviour.chunks = 150
    fake_provider.state.behaviour.chunk_delay = 0.1
    server = started(tmp_path, graceful_timeout=2)
    events, exit_seconds = stream_then_terminate(server, team_key)
    assert exit_seconds < 10
    assert events[-1] == b"data: [DONE]"
    assert b'"code": "server_shutting_down"' in events[-2]
    call = LLMCall.objects.select_related("job").get()
    assert call.completion_tokens > 0
    assert call.finish_reason == "server_shutdown"
    assert not Job.objects.filter(status=JobStatus.IN_PROGRESS).exists()
    assert call.job.credits_charged > 0
    assert len(deductions()) == 1
    assert credits_reconcile() == {}


def test_a_call_still_waiting_on_its_provider_at_the_deadline_is_recorded_unbilled(
    tmp_path, team_key, chat_alias, fake_provider
):
    """A non-streamed call whose provider takes 15 s, against a graceful timeout of
    2 s: cut before the SIGKILL, answered 503, recorded as failed, its one-call job
    closed and nothing charged."""
    fake_provider.state.behaviour.latency = 15
    server = started(tmp_path, graceful_timeout=2)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            requests.post,
            f"{server.url}/v1/chat/completions",
            json=call_body(),
            headers={"Authorization": f"Bearer {team_key}"},
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while not LLMCall.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.terminate()
        response = answer.result()
    server_stop(server)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "server_shutting_down"
    call = LLMCall.objects.select_related("job").get()
    assert call.status == CallStatus.FAILED
    assert call.job.status == JobStatus.FAILED
    assert deductions() == []
    assert credits_reconcile() == {}
