"""`prune_calls` deletes the raw calls of closed jobs and the closed holds past
retention, in batches; the ledger, rollups, jobs and open work stay."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from credits.models import CreditHold, HoldStatus, LedgerEntry
from jobs.models import Job, LLMCall, StoredResponse
from usage.models import UsageDaily
from usage.tests.conftest import chat, job_call, job_complete, job_open

pytestmark = pytest.mark.django_db


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_calls", *args, stdout=out)
    return out.getvalue()


def age(days: int, *, calls=None, holds=None) -> None:
    moment = timezone.now() - timedelta(days=days)
    if calls is not None:
        LLMCall.objects.filter(pk__in=calls).update(created_at=moment)
    if holds is not None:
        CreditHold.objects.filter(pk__in=holds).update(created_at=moment)
        CreditHold.objects.filter(pk__in=holds, closed_at__isnull=False).update(
            closed_at=moment
        )


@pytest.fixture
def history(team_client, mock_alias) -> dict[str, str]:
    """An old closed job, an old open job, an old one-call job and a recent one."""
    closed = job_open(team_client, job_type="closed")
    job_call(team_client, closed)
    job_complete(team_client, closed)
    still_open = job_open(team_client, job_type="open")
    job_call(team_client, still_open)
    chat(team_client, user="old")
    old_calls = list(LLMCall.objects.values_list("pk", flat=True))
    age(
        500,
        calls=old_calls,
        holds=list(CreditHold.objects.values_list("pk", flat=True)),
    )
    chat(team_client, user="recent")
    return {"closed": closed, "open": still_open}


def test_old_calls_of_closed_jobs_go_and_the_rest_stays(history):
    ledger = list(LedgerEntry.objects.values_list("pk", "amount"))
    rollups = list(UsageDaily.objects.values_list("pk", "calls", "credits"))
    assert "Deleted 2 call(s)" in prune("--older-than", "400d")
    left = LLMCall.objects.values_list("job__job_type", "job__user_id")
    assert sorted(left) == [("chat.completions", "recent"), ("open", "")]
    assert Job.objects.count() == 4  # the ledger names them
    assert list(LedgerEntry.objects.values_list("pk", "amount")) == ledger
    assert list(UsageDaily.objects.values_list("pk", "calls", "credits")) == rollups


def test_a_stored_response_outlives_its_call(history, team):
    call = LLMCall.objects.get(job__job_type="closed")
    StoredResponse.objects.create(
        response_id="resp_kept", team=team, call=call, model_alias="mock", body={}
    )
    prune("--older-than", "400d")
    assert StoredResponse.objects.get(response_id="resp_kept").call is None


def test_old_closed_holds_go_and_open_or_recent_ones_stay(history):
    assert "and 2 closed hold(s)" in prune("--older-than", "400d")
    kept = CreditHold.objects.order_by("created_at").values_list("status", flat=True)
    assert list(kept) == [HoldStatus.OPEN, HoldStatus.CAPTURED]


def test_a_dry_run_counts_and_deletes_nothing(history):
    calls = LLMCall.objects.count()
    assert prune("--older-than", "400d", "--dry-run").startswith(
        "Would delete 2 call(s) and 2 closed hold(s)"
    )
    assert LLMCall.objects.count() == calls


def test_rows_go_in_batches_of_the_size_given(history):
    assert "in 4 batch(es)" in prune("--older-than", "400d", "--batch-size", "1")
    assert LLMCall.objects.count() == 2


def test_the_retention_setting_is_the_default(history, settings):
    settings.CALL_RETENTION_DAYS = 600
    assert "Deleted 0 call(s)" in prune()
    settings.CALL_RETENTION_DAYS = 30
    assert "Deleted 2 call(s)" in prune()


@pytest.mark.parametrize(
    "args", [["--older-than", "soon"], ["--older-than", "0d"], ["--batch-size", "0"]]
)
def test_bad_arguments_are_refused(db, args):
    with pytest.raises(CommandError):
        prune(*args)
