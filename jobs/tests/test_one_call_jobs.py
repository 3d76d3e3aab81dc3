"""One-call jobs (create-and-call, /v1/chat/completions without X-Job-Id): one short
transaction before the provider call and one after it, with the same records and
billing as the two-step flow."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import llm
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.serializers import LLMCallSerializer
from jobs.services import job_call_finish, job_call_start, llm_call_start
from jobs.tests.conftest import account, call_body, ledger_snapshot
from saas_litellm.exceptions import Conflict
from teams.models import BudgetMode

ONE_SHOT = {"team_id": "acme-corp", "job_type": "one_shot"}

# Every test here runs on both implementations of one-call jobs.
pytestmark = pytest.mark.usefixtures("one_call_way")
# What a one-call job may cost through the ORM: authentication 1, routes 2 (the
# alias, and the organization's credential for an alias without one), the start
# transaction 5 (team status, job, reservation, hold, call) and the finish one 9,
# each also a SAVEPOINT/RELEASE pair under the test's transaction.
MAX_ORM_QUERIES = 21


def chat_request(**overrides):
    serializer = LLMCallSerializer(data=call_body(**overrides))
    serializer.is_valid(raise_exception=True)
    return serializer.call_request()


def test_a_one_call_job_takes_few_queries_and_two_transactions(
    team_client, chat_alias, one_call_way
):
    body = {**ONE_SHOT, **call_body()}
    team_client.post("/api/jobs/create-and-call", body, format="json")  # key used
    with CaptureQueriesContext(connection) as queries:
        response = team_client.post("/api/jobs/create-and-call", body, format="json")
    assert response.status_code == HTTPStatus.OK
    statements = [query["sql"] for query in queries.captured_queries]
    if one_call_way == "sql":
        # The key (with the catalogue version: the route plan is reused), then one
        # statement, so one transaction, on each side of the provider call.
        assert len(statements) == 3, "\n".join(statements)
        assert "one_call_job_open(" in statements[1]
        assert "one_call_job_close(" in statements[2]
        return
    assert len(statements) <= MAX_ORM_QUERIES, "\n".join(statements)
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


def test_a_one_call_job_the_team_cannot_cover_is_failed_like_a_refused_call(
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
    job = Job.objects.get()
    assert (job.status, job.credits_charged) == (JobStatus.FAILED, 0)
    assert ledger_snapshot(team) == before


def test_a_one_call_job_reserves_its_call_before_the_provider(team, chat_alias):
    ticket = job_call_start(team=team, job_type="one_shot", request=chat_request())
    assert ticket.call.status == CallStatus.IN_PROGRESS
    assert ticket.call.job.status == JobStatus.IN_PROGRESS
    assert account(team).credits_reserved == 1


def test_finishing_a_one_call_job_while_another_call_runs_keeps_the_outcome(
    team, chat_alias
):
    ticket = job_call_start(team=team, job_type="one_shot", request=chat_request())
    job = ticket.call.job
    other = llm_call_start(team=team, job_id=str(job.job_id), request=chat_request())
    completion = llm.Completion(
        route=ticket.routes[0], content="hi", finish_reason="stop", prompt_tokens=1
    )
    with pytest.raises(Conflict):
        job_call_finish(ticket=ticket, completion=completion)
    assert LLMCall.objects.get(pk=ticket.call.pk).status == CallStatus.SUCCEEDED
    assert Job.objects.get(pk=job.pk).is_open
    assert account(team).credits_reserved == 1
    assert other.call.status == CallStatus.IN_PROGRESS
