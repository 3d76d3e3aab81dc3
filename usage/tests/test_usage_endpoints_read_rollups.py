"""The usage endpoints take credits, tokens and costs from the rollups (their cost
is the days' and groups', not the calls'), and job counts from the jobs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from teams.tests.factories import OrganizationFactory
from usage.models import COUNTER_FIELDS, UsageDaily, UsageMonthly
from usage.tests.conftest import chat, job_call, job_complete, job_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(team_client, mock_alias) -> None:
    job_id = job_open(team_client, job_type="report")
    job_call(team_client, job_id)
    job_complete(team_client, job_id)
    chat(team_client)


def test_team_usage_is_the_rollups_and_the_jobs(team_client, usage):
    rows = UsageDaily.objects.all()
    body = team_client.get("/api/teams/acme-corp/usage").json()
    assert body["summary"]["total_jobs"] == 2
    assert body["summary"]["credits_used"] == sum(row.credits for row in rows) == 2
    assert body["summary"]["total_tokens"] == sum(row.total_tokens for row in rows)
    assert set(body["job_types"]) == {"report", "chat.completions"}


def test_team_usage_reads_tokens_and_costs_from_the_rollups(admin_client_api, usage):
    UsageDaily.objects.filter(job_type="report").update(
        total_tokens=1_000, provider_cost_usd=Decimal("2.5")
    )
    body = admin_client_api.get("/api/teams/acme-corp/usage").json()
    assert body["job_types"]["report"]["total_tokens"] == 1_000
    assert body["job_types"]["report"]["cost_usd"] == "2.50000000"


def test_a_teams_month_is_its_days_summed(team, usage):
    month = UsageMonthly.objects.get(team=team)
    days = UsageDaily.objects.filter(team=team)
    assert month.month == timezone.now().date().replace(day=1)
    assert month.organization_id == team.organization_id
    for name in COUNTER_FIELDS:
        assert getattr(month, name) == sum(getattr(day, name) for day in days), name
    assert (month.calls, month.credits, month.jobs_completed) == (2, 2, 2)


def test_organization_usage_reads_a_month_from_the_teams_months(
    admin_client_api, usage
):
    UsageMonthly.objects.update(credits=F("credits") + 10)
    body = admin_client_api.get("/api/organizations/org_acme/usage").json()
    assert body["teams"]["acme-corp"]["credits_used"] == 12
    assert body["summary"]["total_jobs"] == 2


def test_organization_usage_reads_its_own_teams_months_only(admin_client_api, usage):
    OrganizationFactory(organization_id="org_other")
    body = admin_client_api.get("/api/organizations/org_other/usage").json()
    assert body["teams"] == {}
    assert body["summary"]["credits_used"] == body["summary"]["total_jobs"] == 0


def test_organization_usage_reads_a_day_from_the_days(admin_client_api, usage):
    UsageDaily.objects.update(credits=F("credits") + 10)
    today = timezone.now().date().isoformat()
    body = admin_client_api.get(f"/api/organizations/org_acme/usage?period={today}")
    assert body.json()["teams"]["acme-corp"]["credits_used"] == 22


def test_a_period_without_usage_is_zero(team_client, usage):
    body = team_client.get("/api/teams/acme-corp/usage?period=2020-01").json()
    assert body["summary"]["credits_used"] == body["summary"]["total_tokens"] == 0
    assert body["job_types"] == {}
