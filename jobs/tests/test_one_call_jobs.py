"""One-call jobs (create-and-call, /v1/chat/completions without X-Job-Id): one short
transaction before the provider call and one after it, with the same records and
billing as the two-step flow; a refusal writes nothing."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.models import CreditHold
from jobs.gateway import Completion
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.serializers import LLMCallSerializer
from jobs.services import NewJob, llm_call_finish, llm_call_start, one_call_job_start
from jobs.tests.conftest import account, call_body, ledger_snapshot
from saas_litellm.exceptions import OneCallJob
from teams.models import BudgetMode

ONE_SHOT = {"team_id": "acme-corp", "job_type": "one_shot"}
# What a one-call job may cost: authentication 1, routes 2 on SQLite (the alias, and
# the organization's credential; reused on PostgreSQL while the catalogue is
# unchanged), the start transaction 4 (reservation, hold, job, call) and the finish
# one 9 (call, job lock, usage, account, hold, account, hold, ledger, job), each
# also a SAVEPOINT/RELEASE pair under the test's transaction.
MAX_QUERIES = 20


def chat_request(**overrides):
    serializer = LLMCallSerializer(data=call_body(**overrides))
    serializer.is_valid(raise_exception=True)
    return serializer.call_request()


def test_a_one_call_job_takes_few_queries_and_two_transactions(team_client, chat_alias):
    body = {**ONE_SHOT, **call_body()}
    team_client.post("/api/jobs/create-and-call", body, format="json")  # key used
    with CaptureQueriesContext(connection) as queries:
        response = team_client.post("/api/jobs/create-and-call", body, format="json")
    assert response.status_code == HTTPStatus.OK
    statements = [query["sql"] for query in queries.captured_queries]
    work = [sql for sql in statements if "SAVEPOINT" not in sql]
    assert len(work) <= MAX_QUERIES, "\n".join(statements)
    # Under the test's transaction each of the service's transactions is a savepoint.
    assert sum(sql.startswith("SAVEPOINT") for sql in statements) == 2


def test_a_one_call_chat_completion_reports_the_credits_left(team_client, chat_alias):
    response = team_client.post(
        "/v1/chat/completions",
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    assert response.headers["X-Credits-Charged"] == "1"
    assert response.headers["X-Credits-Remaining"] == "99"


def test_a_one_call_job_the_team_cannot_cover_writes_nothing(
    team_client, team, chat_alias, fake_provider
):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    before = ledger_snapshot(team)
    requests_before = fake_provider.request_count
    response = team_client.post(
        "/api/jobs/create-and-call",
        {**ONE_SHOT, **call_body(max_tokens=500)},
        format="json",
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "insufficient_credits"
    assert fake_provider.request_count == requests_before
    assert not Job.objects.exists()
    assert not LLMCall.objects.exists()
    assert not CreditHold.objects.exists()
    assert ledger_snapshot(team) == before


def test_a_one_call_job_reserves_its_call_before_the_provider(team, chat_alias):
    ticket = one_call_job_start(
        team=team, new_job=NewJob(job_type="one_shot"), request=chat_request()
    )
    assert ticket.call.status == CallStatus.IN_PROGRESS
    assert ticket.call.job.status == JobStatus.IN_PROGRESS
    assert account(team).credits_reserved == 1


def test_a_one_call_job_takes_no_other_call_and_closes_with_its_own(team, chat_alias):
    ticket = one_call_job_start(
        team=team, new_job=NewJob(job_type="one_shot"), request=chat_request()
    )
    job = ticket.call.job
    with pytest.raises(OneCallJob):
        llm_call_start(team=team, job_id=str(job.job_id), request=chat_request())
    assert LLMCall.objects.filter(job=job).count() == 1
    assert account(team).credits_reserved == 1
    completion = Completion(
        route=ticket.attempts.groups[0].routes[0],
        content="hi",
        finish_reason="stop",
        prompt_tokens=1,
        usage_reported=True,
    )
    outcome = llm_call_finish(ticket=ticket, completion=completion)
    assert outcome.job.status == JobStatus.COMPLETED
    assert Job.objects.get(pk=job.pk).credits_charged == 1
    assert account(team).credits_reserved == 0


def test_a_call_on_a_one_call_job_is_a_409_in_each_dialect(
    team_client, team, chat_alias
):
    ticket = one_call_job_start(
        team=team, new_job=NewJob(job_type="one_shot"), request=chat_request()
    )
    job_id = str(ticket.call.job.job_id)
    native = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert native.status_code == HTTPStatus.CONFLICT
    assert native.json()["code"] == "one_call_job"
    openai = team_client.post(
        "/v1/chat/completions",
        {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        format="json",
        HTTP_X_JOB_ID=job_id,
    )
    assert openai.status_code == HTTPStatus.CONFLICT
    assert openai.json()["error"]["code"] == "one_call_job"
    assert LLMCall.objects.filter(job__job_id=job_id).count() == 1
