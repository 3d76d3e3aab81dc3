"""SIGTERM to gunicorn (one uvicorn worker, DEBUG off) while a stream is open: the
stream finishes within `graceful_timeout` (GUNICORN_GRACEFUL_TIMEOUT) and its call is
recorded and billed once; nothing is left in progress."""

from __future__ import annotations

import contextlib
import time
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


@pytest.fixture
def stream_cut_by_the_graceful_timeout(tmp_path, team_key, chat_alias, fake_provider):
    """A stream of 15 s against a graceful timeout of 2 s."""
    fake_provider.state.behaviour.chunks = 150
    fake_provider.state.behaviour.chunk_delay = 0.1
    server = started(tmp_path, graceful_timeout=2)
    events, exit_seconds = stream_then_terminate(server, team_key)
    assert b"data: [DONE]" not in events
    assert exit_seconds < 10
    return events


# What happens: gunicorn's master SIGKILLs the worker when graceful_timeout runs out
# (uvicorn_worker gives uvicorn no shutdown deadline of its own). Giving uvicorn one
# (timeout_graceful_shutdown) was tried: uvicorn then cancels the stream's task and
# exits at once, and the cut call is still not recorded (its recording, started in
# the stream's `finally`, does not outlive the event loop's shutdown). So the job
# stays in_progress and its hold reserved until the worker's `expire_jobs` closes it,
# unbilled for what the stream used.
@pytest.mark.xfail(
    strict=True,
    reason="SIGKILLed at graceful_timeout: the cut call stays in_progress",
)
def test_a_stream_cut_by_the_shutdown_is_recorded_and_billed_for_what_it_used(
    stream_cut_by_the_graceful_timeout,
):
    assert not Job.objects.filter(status=JobStatus.IN_PROGRESS).exists()
    assert len(deductions()) == 1
    assert credits_reconcile() == {}
