from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.tests.conftest import account, llm_call


def age(job_id: str, hours: int) -> None:
    Job.objects.filter(job_id=job_id).update(
        last_activity_at=timezone.now() - timedelta(hours=hours)
    )


def test_an_abandoned_job_with_calls_is_completed_and_billed(team_client, team, job_id):
    llm_call(team_client, job_id)
    age(job_id, 3)
    call_command("expire_jobs", "--older-than", "2h", stdout=StringIO())
    job = Job.objects.get(job_id=job_id)
    assert job.status == JobStatus.COMPLETED
    assert job.credits_charged == 1
    assert account(team).credits_used == 1
    assert account(team).credits_reserved == 0


def test_an_abandoned_job_without_calls_is_failed_and_released(team, job_id):
    age(job_id, 25)
    call_command("expire_jobs", "--older-than", "1d", stdout=StringIO())
    assert Job.objects.get(job_id=job_id).status == JobStatus.FAILED
    assert account(team).credits_remaining == 100


def test_a_recent_job_is_left_open(team, job_id):
    call_command("expire_jobs", "--older-than", "30m", stdout=StringIO())
    assert Job.objects.get(job_id=job_id).status == JobStatus.PENDING


def test_a_bad_duration_is_refused(db):
    with pytest.raises(CommandError):
        call_command("expire_jobs", "--older-than", "soon")
