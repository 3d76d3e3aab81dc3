"""`saas_litellm.sql.insert_sent`: rows inserted without waiting for their answers
(a parent and a child pointing to it by its unique field) have their pks once the
transaction has ended, on PostgreSQL (in a pipeline) and on SQLite alike."""

from __future__ import annotations

import pytest
from django.db import transaction

from jobs.models import Job, LLMCall
from saas_litellm import sql

pytestmark = pytest.mark.django_db


def test_a_parent_and_its_child_sent_without_waiting_get_their_pks(team):
    job = Job(team=team, job_type="sent")
    call = LLMCall(job=job, team=team, model_alias="alias")
    with sql.pipelined(), transaction.atomic():
        job_pk_set = sql.insert_sent(job)
        call_pk_set = sql.insert_sent(call, via=(("job", "job_id"),))
    job_pk_set()
    call_pk_set()
    assert Job.objects.get(pk=job.pk).job_id == job.job_id
    stored = LLMCall.objects.get(pk=call.pk)
    assert (stored.call_id, stored.job_id) == (call.call_id, job.pk)
