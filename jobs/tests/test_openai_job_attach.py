"""/v1 requests carrying X-Job-Id are calls on that open job: it stays open and is
charged once, when the team completes it."""

from __future__ import annotations

import openai
import pytest

from credits.models import EntryType, LedgerEntry
from jobs.models import CallStatus, Job, JobStatus
from jobs.tests.conftest import account, complete
from jobs.tests.openai_sdk import hello, sdk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(server, team_key, chat_alias, job_id):
    return sdk(server, team_key, default_headers={"X-Job-Id": job_id})


def test_calls_with_x_job_id_join_that_job_which_stays_open(client, job_id):
    client.chat.completions.create(**hello())
    list(client.chat.completions.create(**hello(stream=True)))
    job = Job.objects.get()
    assert str(job.job_id) == job_id
    assert job.status == JobStatus.IN_PROGRESS
    assert job.calls.count() == 2
    assert [call.streamed for call in job.calls.order_by("created_at")] == [
        False,
        True,
    ]


def test_an_attached_call_charges_nothing_until_the_job_completes(client, job_id, team):
    raw = client.chat.completions.with_raw_response.create(**hello())
    assert raw.headers["X-Job-Id"] == job_id
    assert raw.headers["X-Credits-Charged"] == "0"
    assert raw.headers["X-Call-Id"] == str(Job.objects.get().calls.get().call_id)
    assert int(raw.headers["X-Credits-Remaining"]) == account(team).credits_remaining
    assert account(team).credits_used == 0
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()


def test_completing_the_job_charges_its_calls_once(client, job_id, team, team_client):
    for _ in range(3):
        client.chat.completions.create(**hello())
    costs = complete(team_client, job_id).json()["costs"]
    assert (costs["total_calls"], costs["credits_charged"]) == (3, 1)
    assert complete(team_client, job_id).json()["costs"]["credits_charged"] == 1
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert str(deduction.job_id) == job_id
    assert account(team).credits_used == 1
    assert account(team).credits_reserved == 0


def test_a_failed_attached_call_leaves_the_job_open(client, job_id, make_alias):
    make_alias("down", "fake-fail-500")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**hello(model="down"))
    job = Job.objects.get()
    assert job.status == JobStatus.IN_PROGRESS
    assert job.calls.get().status == CallStatus.FAILED
