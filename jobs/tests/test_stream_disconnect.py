"""A stream cut by the client, against a real ASGI server: recorded and billed, and
its resources (the provider's stream among them) let go within a second."""

from __future__ import annotations

import math
import time

import pytest
import requests

from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import account, call_body, complete
from teams.models import BudgetMode


def wait_for_outcome(call_filter: dict, seconds: float = 10) -> LLMCall:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call = LLMCall.objects.filter(**call_filter).first()
        if call is not None and call.status != CallStatus.IN_PROGRESS:
            return call
        time.sleep(0.05)
    raise AssertionError("the call was never recorded")


@pytest.mark.postgres  # a transactional test: SQLite's ledger trigger refuses flush
@pytest.mark.django_db(transaction=True)
def test_a_stream_cut_by_the_client_is_recorded_and_billed(
    asgi_server, team_client, team_key, team, job_id, fake_provider
):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 3
    team.save()
    fake_provider.state.behaviour.chunks = 30
    fake_provider.state.behaviour.chunk_delay = 0.1
    abandoned = fake_provider.state.streams_abandoned  # the session's provider
    abandoned_before = len(abandoned)
    long_text = "word " * 60
    body = call_body(messages=[{"role": "user", "content": long_text}], max_tokens=60)
    with requests.post(
        f"{asgi_server}/api/jobs/{job_id}/llm-call-stream",
        json=body,
        headers={"Authorization": f"Bearer {team_key}"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        received = [next(lines) for _ in range(5)]
    cut_at = time.monotonic()
    assert any(line.startswith(b"data: {") for line in received)
    call = wait_for_outcome({"job__job_id": job_id})
    # Within a second the gateway recorded the call and let the provider go.
    assert time.monotonic() - cut_at < 1
    deadline = cut_at + 1
    while len(abandoned) == abandoned_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(abandoned) == abandoned_before + 1
    assert 0 < abandoned[-1] - cut_at < 1
    assert call.status == CallStatus.SUCCEEDED
    assert call.finish_reason == "client_disconnected"
    assert call.completion_tokens > 0
    assert call.total_tokens > call.completion_tokens
    charged = complete(team_client, job_id).json()["costs"]["credits_charged"]
    assert charged == math.ceil(call.total_tokens / 3)
    assert account(team).credits_used == charged


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cut_one_shot_stream_still_completes_and_bills_its_job(
    asgi_server, team_key, team, chat_alias, fake_provider
):
    fake_provider.state.behaviour.chunks = 30
    fake_provider.state.behaviour.chunk_delay = 0.1
    body = {"team_id": "acme-corp", "job_type": "one_shot", **call_body()}
    with requests.post(
        f"{asgi_server}/api/jobs/create-and-call-stream",
        json=body,
        headers={"Authorization": f"Bearer {team_key}"},
        stream=True,
        timeout=10,
    ) as response:
        next(response.iter_lines())
    call = wait_for_outcome({})
    assert call.finish_reason == "client_disconnected"
    deadline = time.monotonic() + 10
    while call.job.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        call.job.refresh_from_db()
    assert call.job.credits_charged == 1
    assert account(team).credits_used == 1


def test_frames_never_read_are_still_closed_when_the_response_is_dropped():
    """A client gone between the headers and the body: Django never reads the
    response. The frames' `finally` (which records the call) must still run."""
    import asyncio
    import gc
    import io

    from django.core.handlers.asgi import ASGIRequest

    from jobs.pipeline import event_stream

    closed = []

    async def frames():
        try:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"
        finally:
            closed.append(True)

    async def dropped_response() -> None:
        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions"}
        request = ASGIRequest(scope, io.BytesIO())
        response = await event_stream(request, frames())
        assert response.streaming
        del response
        gc.collect()
        await asyncio.sleep(0.05)  # the loop's finalizer closes the frames

    asyncio.run(dropped_response())
    assert closed == [True]
