"""A request refused for rate limits, credits, team status or model access writes
nothing: no job, no hold, no call, no ledger entry (API.md, "Credits")."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.models import CreditHold, LedgerEntry
from jobs.models import Job, LLMCall
from jobs.ratelimit import rate_limit_acquire
from teams.models import BudgetMode, TeamStatus
from teams.services import team_status_set

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
ONE_SHOT = {"team_id": "acme-corp", "job_type": "one_shot", **HELLO}


def rows() -> tuple[int, int, int, int]:
    return (
        Job.objects.count(),
        LLMCall.objects.count(),
        CreditHold.objects.count(),
        LedgerEntry.objects.count(),
    )


@pytest.fixture(params=["/v1/chat/completions", "/api/jobs/create-and-call"])
def refused(request, team_client, chat_alias):
    """POST the endpoint and assert the refusal's status left every table as it was."""

    def post(status: HTTPStatus, **overrides) -> dict:
        body = {**(ONE_SHOT if "jobs" in request.param else HELLO), **overrides}
        before = rows()
        response = team_client.post(request.param, body, format="json")
        assert response.status_code == status, response.content
        assert rows() == before
        return response.json()

    return post


def test_a_rate_limited_request_writes_nothing(refused, team):
    team.max_parallel_requests = 1
    team.save()
    rate_limit_acquire(team=team)  # a call already in flight
    refused(HTTPStatus.TOO_MANY_REQUESTS)


def test_a_request_the_team_cannot_cover_writes_nothing(refused, team):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    refused(HTTPStatus.FORBIDDEN, max_tokens=500)


@pytest.mark.parametrize("status", [TeamStatus.SUSPENDED, TeamStatus.PAUSED])
def test_a_request_of_a_suspended_or_paused_team_writes_nothing(refused, team, status):
    team_status_set(team=team, status=status, actor="tests")
    refused(HTTPStatus.FORBIDDEN)


def test_a_request_for_a_forbidden_model_writes_nothing(refused):
    refused(HTTPStatus.FORBIDDEN, model="not-ours")
