"""The rarer ways a rollup changes: a charge on its ledger entry's day, and a call
whose process died (failed when its job is closed)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from credits.models import LedgerEntry
from jobs.models import CallStatus, Job, LLMCall
from jobs.services import job_complete, job_create
from teams.models import VirtualKey
from usage.models import UsageDaily
from usage.services import (
    usage_call_charge_record,
    usage_charge_record,
    usage_record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(team) -> Job:
    job = job_create(team=team, job_type="report")
    LLMCall.objects.create(
        job=job, team=team, model_alias="mock", status=CallStatus.SUCCEEDED
    )
    return job


def credits_by_day() -> dict:
    return dict(UsageDaily.objects.values_list("day", "credits"))


def test_a_charge_counts_what_the_ledger_took_on_the_entry_s_day(job):
    tomorrow = timezone.now() + timedelta(days=1)
    usage_charge_record(job=job, entry=LedgerEntry(amount=-3, created_at=tomorrow))
    assert credits_by_day() == {tomorrow.date(): 3}
    assert UsageDaily.objects.get().model_alias == "mock"


def test_nothing_charged_leaves_nothing_counted(job):
    usage_charge_record(job=job, entry=None)
    assert credits_by_day() == {}


def test_a_call_abandoned_by_its_process_counts_as_failed_when_its_job_closes(team):
    job = job_create(team=team, job_type="report")
    call = LLMCall.objects.create(job=job, team=team, model_alias="mock")
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(created_at=long_ago)
    LLMCall.objects.filter(pk=call.pk).update(created_at=long_ago)
    job_complete(team=team, job_id=str(job.job_id), status="completed")
    row = UsageDaily.objects.get()
    assert (row.calls, row.failed_calls, row.credits) == (1, 1, 0)
    out = io.StringIO()
    call_command("rollups_rebuild", "--check", stdout=out)
    assert "agree" in out.getvalue()


def test_calls_are_counted_per_key_that_opened_their_job(job, team):
    """A job opened by a key counts in that key's row; one opened by the operator
    (no key) in the group without a key."""
    key = VirtualKey.objects.get(team=team)
    keyed = Job.objects.create(team=team, key=key, job_type=job.job_type)
    for _ in range(2):
        usage_record(call=LLMCall(job=keyed, team=team, model_alias="mock"))
    usage_record(call=LLMCall(job=job, team=team, model_alias="mock"))
    counted = set(UsageDaily.objects.values_list("key_id", "calls"))
    assert counted == {(key.pk, 2), (None, 1)}


def test_a_one_call_job_s_call_and_charge_count_on_their_own_days(team):
    """The call on the day it was made, the charge on its ledger entry's day: one
    row when they are the same day, two when the call ran over midnight."""
    job = Job.objects.create(team=team, job_type="report", one_call=True)
    today = timezone.now()
    usage_call_charge_record(
        call=LLMCall(job=job, team=team, model_alias="mock", created_at=today),
        entry=LedgerEntry(amount=-2, created_at=today),
    )
    assert list(UsageDaily.objects.values_list("day", "calls", "credits")) == [
        (today.date(), 1, 2)
    ]
    yesterday = today - timedelta(days=1)
    LLMCall.objects.create(
        job=job, team=team, model_alias="mock", status=CallStatus.SUCCEEDED
    )
    usage_call_charge_record(
        call=LLMCall(job=job, team=team, model_alias="mock", created_at=yesterday),
        entry=LedgerEntry(amount=-3, created_at=today),
    )
    assert sorted(UsageDaily.objects.values_list("day", "calls", "credits")) == [
        (yesterday.date(), 1, 0),
        (today.date(), 1, 5),
    ]
