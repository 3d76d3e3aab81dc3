"""Usage is grouped in the database: the job types a team chooses freely (and the
teams of an organization) never add queries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.services import credit_add
from jobs.models import CallStatus, LLMCall
from jobs.selectors import organization_usage, team_usage
from jobs.services import job_complete, job_create
from teams.models import Team
from teams.services import team_create
from usage.services import usage_record

pytestmark = pytest.mark.django_db


def jobs_of_types(team: Team, *job_types: str) -> None:
    for job_type in job_types:
        job_create(team=team, job_type=job_type)


def queries_for(read, **kwargs) -> int:
    with CaptureQueriesContext(connection) as queries:
        read(period=None, **kwargs)
    return len(queries)


def test_team_usage_takes_as_many_queries_for_many_job_types_as_for_one(team):
    jobs_of_types(team, "only")
    one_type = queries_for(team_usage, team=team, include_costs=True)
    jobs_of_types(team, *(f"type-{n}" for n in range(8)))
    assert queries_for(team_usage, team=team, include_costs=True) == one_type


def test_the_usage_endpoint_stays_within_a_few_queries_for_many_job_types(
    team_client, team, django_assert_max_num_queries
):
    jobs_of_types(team, *(f"type-{n}" for n in range(20)))
    # On PostgreSQL one of them sets the plan mode (saas_litellm.sql.custom_plans).
    with django_assert_max_num_queries(7):
        body = team_client.get("/api/teams/acme-corp/usage").json()
    assert len(body["job_types"]) == 20


def test_organization_usage_takes_as_many_queries_for_many_teams_as_for_one(team):
    jobs_of_types(team, "only")
    one_team = queries_for(organization_usage, organization=team.organization)
    for n in range(4):
        other = team_create(
            organization=team.organization, team_id=f"more-{n}", actor="tests"
        ).key.team
        credit_add(team=other, credits=5, actor="tests")
        jobs_of_types(other, "theirs")
    assert queries_for(organization_usage, organization=team.organization) == one_team


def test_usage_is_added_up_per_job_type_and_in_total(team):
    summarise = job_create(team=team, job_type="summarise")
    job_create(team=team, job_type="summarise")
    translate = job_create(team=team, job_type="translate")
    for job, tokens, cost in ((summarise, 10, "0.01"), (translate, 5, "0.02")):
        call = LLMCall.objects.create(
            job=job,
            team=team,
            model_alias="chat",
            status=CallStatus.SUCCEEDED,
            total_tokens=tokens,
            provider_cost_usd=Decimal(cost),
        )
        usage_record(call=call)  # as recording a call's outcome does
    job_complete(team=team, job_id=str(summarise.job_id), status="completed")
    usage = team_usage(team=team, period=None, include_costs=True)
    assert usage["job_types"] == {
        "summarise": {"count": 2, "credits_used": 1, "total_tokens": 10,
                      "cost_usd": "0.01000000"},
        "translate": {"count": 1, "credits_used": 0, "total_tokens": 5,
                      "cost_usd": "0.02000000"},
    }  # fmt: skip
    assert usage["summary"] == {
        "total_jobs": 3, "successful_jobs": 1, "failed_jobs": 0, "credits_used": 1,
        "total_tokens": 15, "total_cost_usd": "0.03000000",
        "avg_cost_per_job": "0.01000000",
    }  # fmt: skip
