"""Every /v1/messages request leaves one call record and at most one ledger entry of
the right size, whatever happened: streamed or not, with or without the provider's
usage, after a fallback, or cut by the client at chunk k. The ledger reconciles."""

from __future__ import annotations

import json
import math

import pytest
import requests

from credits.models import EntryType, LedgerEntry
from credits.services import credits_reconcile
from jobs.models import CallStatus, JobStatus, LLMCall
from jobs.tests.anthropic_sdk import call_recorded, hello, sdk
from teams.models import BudgetMode

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TOKENS_PER_CREDIT = 10


@pytest.fixture
def consuming_team(team, chat_alias):
    """`team`, billed for its tokens (so a wrong count is a wrong charge)."""
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = TOKENS_PER_CREDIT
    team.save()
    return team


@pytest.fixture
def alias_for(make_alias):
    """The alias to ask for: one answered by `behaviour`, or, with `fallback`, one
    whose provider fails so that its fallback (answered by `behaviour`) answers."""

    def alias(behaviour: str, *, fallback: bool) -> str:
        make_alias("target", behaviour)
        if not fallback:
            return "target"
        make_alias("entry", "fake-fail-500", fallbacks=["target"])
        return "entry"

    return alias


def charged_once(behaviour: str) -> LLMCall:
    """The one call, recorded and billed once for its tokens; the ledger reconciles."""
    (call,) = LLMCall.objects.select_related("job")
    assert call.status == CallStatus.SUCCEEDED
    assert call.model_used == f"openai/{behaviour}"
    assert call.job.status == JobStatus.COMPLETED
    (deduction,) = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    expected = math.ceil(call.total_tokens / TOKENS_PER_CREDIT)
    assert deduction.amount == -expected == -call.job.credits_charged
    assert credits_reconcile() == {}
    return call


def message_delta_usage(raw: bytes) -> dict:
    frames = raw.decode().split("\n\n")
    frame = next(f for f in frames if f.startswith("event: message_delta"))
    return json.loads(frame.split("data: ", 1)[1])["usage"]


@pytest.mark.parametrize("fallback", [False, True], ids=["direct", "fallback"])
@pytest.mark.parametrize("behaviour", ["fake-echo", "fake-no-usage"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_request_is_recorded_once_and_billed_for_its_tokens(
    server, team_key, consuming_team, alias_for, behaviour, fallback, stream
):
    model = alias_for(behaviour, fallback=fallback)
    client = sdk(server, team_key)
    if stream:
        with client.messages.with_streaming_response.create(
            **hello(model=model, stream=True)
        ) as response:
            usage = message_delta_usage(response.read())
        credits = usage["credits"]["charged"]
    else:
        raw = client.messages.with_raw_response.create(**hello(model=model))
        usage = raw.http_response.json()["usage"]
        credits = int(raw.headers["X-Credits-Charged"])
    call = charged_once(behaviour)
    assert call.usage_estimated == (behaviour == "fake-no-usage")
    assert usage["output_tokens"] == call.completion_tokens > 0
    assert usage["input_tokens"] == call.prompt_tokens > 0
    assert credits == call.job.credits_charged


@pytest.mark.parametrize(
    ("behaviour", "fallback", "lines"),
    [
        ("fake-echo", False, 2),
        ("fake-echo", False, 12),
        ("fake-no-usage", False, 6),
        ("fake-echo", True, 6),
    ],
    ids=["at-message-start", "mid-text", "no-usage", "after-fallback"],
)
def test_a_stream_cut_by_the_client_is_recorded_and_billed_once(
    server,
    team_key,
    consuming_team,
    alias_for,
    fake_provider,
    behaviour,
    fallback,
    lines,
):
    fake_provider.state.behaviour.chunks = 30
    fake_provider.state.behaviour.chunk_delay = 0.05
    body = hello(
        model=alias_for(behaviour, fallback=fallback),
        stream=True,
        messages=[{"role": "user", "content": "word " * 60}],
    )
    with requests.post(
        f"{server}/v1/messages",
        json=body,
        headers={"x-api-key": team_key, "anthropic-version": "2023-06-01"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.status_code == 200
        received = response.iter_lines()
        assert next(received) == b"event: message_start"
        for _ in range(lines - 1):
            next(received)
    call = call_recorded()
    assert call.finish_reason == "client_disconnected"
    assert call.completion_tokens > 0
    charged_once(behaviour)
