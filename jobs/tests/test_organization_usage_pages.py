"""Organization usage lists its teams a page at a time (by team id, `limit` and
`cursor`); the summary is always the whole organization's."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.utils import timezone

from credits.services import credit_add
from jobs.models import CallStatus, LLMCall
from jobs.services import job_complete, job_create
from teams.services import team_create
from usage.services import usage_record

pytestmark = pytest.mark.django_db

TEAM_IDS = ["acme-corp", "team-b", "team-c", "team-d", "team-e"]


@pytest.fixture
def organization_with_usage(team):
    """Five teams of org_acme, team n with n+1 jobs of n+1 tokens each (one left
    open on each team but the first) and n+1 credits charged."""
    teams = [team] + [
        team_create(organization=team.organization, team_id=team_id, actor="t").key.team
        for team_id in TEAM_IDS[1:]
    ]
    for n, member in enumerate(teams):
        credit_add(team=member, credits=100, actor="tests")
        for _ in range(n + 1):
            job = job_create(team=member, job_type="report")
            call = LLMCall.objects.create(
                job=job,
                team=member,
                model_alias="chat",
                status=CallStatus.SUCCEEDED,
                total_tokens=n + 1,
                provider_cost_usd=Decimal("0.001"),
            )
            usage_record(call=call)
            job_complete(team=member, job_id=str(job.job_id), status="completed")
        if n:
            job_create(team=member, job_type="report")
    return teams


def pages(client, query: str, limit: int) -> tuple[dict, list[dict]]:
    """Every page of the organization's usage; the whole in one page, to compare."""
    url = f"/api/organizations/org_acme/usage?{query}&limit={limit}"
    found, cursor = [], ""
    while True:
        response = client.get(f"{url}&cursor={cursor}")
        assert response.status_code == HTTPStatus.OK, response.content
        found.append(response.json())
        cursor = found[-1]["next_cursor"]
        if cursor is None:
            break
    whole = client.get(f"/api/organizations/org_acme/usage?{query}&limit=1000")
    return whole.json(), found


@pytest.mark.parametrize("period", ["month", "day"])
def test_the_teams_come_a_page_at_a_time_and_the_summary_is_the_whole(
    admin_client_api, organization_with_usage, period
):
    now = timezone.now()
    query = f"period={now:%Y-%m}" if period == "month" else f"period={now:%Y-%m-%d}"
    whole, found = pages(admin_client_api, query, limit=2)
    assert [list(page["teams"]) for page in found] == [
        TEAM_IDS[0:2],
        TEAM_IDS[2:4],
        TEAM_IDS[4:],
    ]
    assert [page["next_cursor"] for page in found] == ["team-b", "team-d", None]
    listed = {team_id: u for page in found for team_id, u in page["teams"].items()}
    assert listed == whole["teams"]
    assert list(whole["teams"]) == TEAM_IDS
    assert whole["next_cursor"] is None
    tokens = [listed[team_id]["total_tokens"] for team_id in TEAM_IDS]
    assert tokens == [1, 4, 9, 16, 25]
    # Each closed job and, but on the first team, one job left open.
    assert [listed[team_id]["total_jobs"] for team_id in TEAM_IDS] == [1, 3, 4, 5, 6]
    for page in found:
        assert page["summary"] == whole["summary"]
    summary = whole["summary"]
    assert summary["total_jobs"] == 19 == sum(u["total_jobs"] for u in listed.values())
    assert summary["successful_jobs"] == 15
    assert summary["credits_used"] == sum(u["credits_used"] for u in listed.values())
    assert summary["credits_used"] > 0
    assert summary["total_tokens"] == 55
    assert summary["total_cost_usd"] == "0.01500000"


def test_a_cursor_past_the_last_team_lists_none_and_keeps_the_summary(
    admin_client_api, organization_with_usage
):
    body = admin_client_api.get(
        "/api/organizations/org_acme/usage?cursor=zzz&limit=5"
    ).json()
    assert body["teams"] == {}
    assert body["next_cursor"] is None
    assert body["summary"]["total_jobs"] == 19


def test_a_page_lists_the_teams_without_usage_too(admin_client_api, team):
    team_create(organization=team.organization, team_id="quiet", actor="t")
    body = admin_client_api.get("/api/organizations/org_acme/usage?limit=1").json()
    assert list(body["teams"]) == ["acme-corp"]
    assert body["next_cursor"] == "acme-corp"
    body = admin_client_api.get(
        "/api/organizations/org_acme/usage?limit=1&cursor=acme-corp"
    ).json()
    assert body["teams"]["quiet"]["total_jobs"] == 0
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "limit=x", "cursor=%00", "cursor=a%20b"]
)
def test_a_bad_page_is_400(admin_client_api, team, query):
    response = admin_client_api.get(f"/api/organizations/org_acme/usage?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert query.split("=")[0] in response.json()["errors"]
