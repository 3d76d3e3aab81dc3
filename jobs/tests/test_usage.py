from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.utils import timezone

from jobs import serializers
from jobs.tests.conftest import complete, llm_call


@pytest.fixture
def priced_job(team_client, job_id, chat_alias):
    chat_alias.pricing_input = Decimal("1")
    chat_alias.pricing_output = Decimal("2")
    chat_alias.save()
    llm_call(team_client, job_id)
    complete(team_client, job_id)
    return job_id


def this_month() -> str:
    return timezone.now().strftime("%Y-%m")


def test_a_team_sees_its_usage_without_costs(team_client, priced_job):
    response = team_client.get(f"/api/teams/acme-corp/usage?period={this_month()}")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["period"] == this_month()
    assert body["summary"]["total_jobs"] == 1
    assert body["summary"]["successful_jobs"] == 1
    assert body["summary"]["credits_used"] == 1
    assert body["summary"]["total_tokens"] > 0
    assert "total_cost_usd" not in body["summary"]
    assert body["job_types"]["test"]["count"] == 1
    assert "cost_usd" not in body["job_types"]["test"]


def test_the_operator_sees_costs(admin_client_api, priced_job):
    body = admin_client_api.get("/api/teams/acme-corp/usage").json()
    assert Decimal(body["summary"]["total_cost_usd"]) > 0
    assert Decimal(body["job_types"]["test"]["cost_usd"]) > 0


def test_a_day_period_is_accepted(team_client, priced_job):
    today = timezone.now().strftime("%Y-%m-%d")
    body = team_client.get(f"/api/teams/acme-corp/usage?period={today}").json()
    assert body["summary"]["total_jobs"] == 1


@pytest.mark.parametrize("period", ["2024", "2024-13", "2024-02-30", "May", "x" * 50])
def test_a_bad_period_is_400(team_client, team, period):
    response = team_client.get(f"/api/teams/acme-corp/usage?period={period}")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_another_teams_usage_is_403(other_team_client, team):
    response = other_team_client.get("/api/teams/acme-corp/usage")
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_team_jobs_are_listed_and_filtered_in_any_case(team_client, priced_job, job_id):
    second = team_client.post(
        "/api/jobs/create", {"team_id": "acme-corp", "job_type": "t"}, format="json"
    ).json()["job_id"]
    body = team_client.get("/api/teams/acme-corp/jobs?status=COMPLETED").json()
    assert [job["job_id"] for job in body["jobs"]] == [priced_job]
    body = team_client.get("/api/teams/acme-corp/jobs?limit=1&offset=0").json()
    assert body["total"] == 2
    assert [job["job_id"] for job in body["jobs"]] == [second]


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=x", "offset=-1"])
def test_bad_job_list_filters_are_400(team_client, team, query):
    response = team_client.get(f"/api/teams/acme-corp/jobs?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_another_teams_jobs_are_403(other_team_client, team):
    response = other_team_client.get("/api/teams/acme-corp/jobs")
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_the_operator_lists_any_teams_jobs(admin_client_api, priced_job):
    body = admin_client_api.get("/api/teams/acme-corp/jobs").json()
    assert body["jobs"][0]["job_id"] == priced_job


def test_organization_usage_is_for_the_operator(admin_client_api, priced_job):
    body = admin_client_api.get("/api/organizations/org_acme/usage").json()
    assert body["summary"]["total_jobs"] == 1
    assert body["teams"]["acme-corp"]["credits_used"] == 1


@pytest.mark.parametrize("operator", [False, True])
def test_usage_answers_are_what_their_schema_serializers_give(
    team_client, admin_client_api, priced_job, operator
):
    """The views answer the selectors' dicts as they are; the serializers that
    document them in the schema would give the same JSON."""
    client = admin_client_api if operator else team_client
    team = client.get("/api/teams/acme-corp/usage").json()
    assert serializers.TeamUsageSerializer(team).data == team
    if operator:
        org = client.get("/api/organizations/org_acme/usage").json()
        assert serializers.OrganizationUsageSerializer(org).data == org


def test_organization_usage_refuses_a_team_key(team_client, team):
    response = team_client.get("/api/organizations/org_acme/usage")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_an_unknown_organization_is_404(admin_client_api):
    response = admin_client_api.get("/api/organizations/nope/usage")
    assert response.status_code == HTTPStatus.NOT_FOUND
