"""The rarer ways a rollup changes: a charge on its ledger entry's day, and a call
whose process died (failed when its job is closed)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from credits.models import LedgerEntry
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.services import job_complete, job_create
from teams.models import VirtualKey
from usage.models import UsageDaily
from usage.services import (
    usage_job_record,
    usage_one_call_job_record,
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


def jobs_by_day() -> dict:
    return {
        day: (completed, failed)
        for day, completed, failed in UsageDaily.objects.values_list(
            "day", "jobs_completed", "jobs_failed"
        )
    }


def test_a_charge_counts_on_its_entry_s_day_and_the_job_on_its_own(job):
    job.status = JobStatus.COMPLETED
    tomorrow = timezone.now() + timedelta(days=1)
    usage_job_record(job=job, entry=LedgerEntry(amount=-3, created_at=tomorrow))
    created = job.created_at.date()
    assert credits_by_day() == {tomorrow.date(): 3, created: 0}
    assert jobs_by_day() == {tomorrow.date(): (0, 0), created: (1, 0)}
    assert set(UsageDaily.objects.values_list("model_alias", flat=True)) == {"mock"}


def test_a_job_closed_without_a_charge_is_counted_without_credits(team):
    job = job_create(team=team, job_type="report")
    job.status = JobStatus.FAILED
    usage_job_record(job=job, entry=None)
    assert credits_by_day() == {job.created_at.date(): 0}
    assert jobs_by_day() == {job.created_at.date(): (0, 1)}
    assert UsageDaily.objects.get().model_alias == ""  # no successful call


def test_a_call_abandoned_by_its_process_counts_as_failed_when_its_job_closes(team):
    job = job_create(team=team, job_type="report")
    call = LLMCall.objects.create(job=job, team=team, model_alias="mock")
    long_ago = timezone.now() - timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(created_at=long_ago)
    LLMCall.objects.filter(pk=call.pk).update(created_at=long_ago)
    job_complete(team=team, job_id=str(job.job_id), status="completed")
    row = UsageDaily.objects.get(model_alias="mock")
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


def test_a_one_call_job_s_call_job_and_charge_count_on_their_own_days(team):
    """The call and its job on the day they were made, the charge on its ledger
    entry's day: one row when they are the same day, two when the call ran over
    midnight."""
    today = timezone.now()
    job = Job.objects.create(
        team=team, job_type="report", one_call=True, status=JobStatus.COMPLETED
    )
    call = LLMCall.objects.create(
        job=job, team=team, model_alias="mock", status=CallStatus.SUCCEEDED
    )
    usage_one_call_job_record(
        call=call, entry=LedgerEntry(amount=-2, created_at=call.created_at)
    )
    assert list(
        UsageDaily.objects.values_list("day", "calls", "credits", "jobs_completed")
    ) == [(call.created_at.date(), 1, 2, 1)]
    yesterday = today - timedelta(days=1)
    late = Job.objects.create(
        team=team,
        job_type="report",
        one_call=True,
        status=JobStatus.COMPLETED,
        created_at=yesterday,
    )
    late_call = LLMCall.objects.create(
        job=late,
        team=team,
        model_alias="mock",
        status=CallStatus.SUCCEEDED,
        created_at=yesterday,
    )
    usage_one_call_job_record(
        call=late_call, entry=LedgerEntry(amount=-3, created_at=today)
    )
    assert sorted(
        UsageDaily.objects.values_list("day", "calls", "credits", "jobs_completed")
    ) == [(yesterday.date(), 1, 0, 1), (today.date(), 1, 5, 1)]


def test_a_failed_one_call_job_counts_its_call_under_its_alias_and_itself_under_none(
    team,
):
    job = Job.objects.create(
        team=team, job_type="report", one_call=True, status=JobStatus.FAILED
    )
    call = LLMCall.objects.create(
        job=job, team=team, model_alias="mock", status=CallStatus.FAILED
    )
    usage_one_call_job_record(call=call, entry=None)
    assert sorted(
        UsageDaily.objects.values_list(
            "model_alias", "calls", "failed_calls", "jobs_failed"
        )
    ) == [("", 0, 0, 1), ("mock", 1, 1, 0)]
