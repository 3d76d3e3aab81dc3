"""The dashboard home (admin index): the numbers, the low-credit list and the charts."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from credits.services import credit_add
from jobs.dashboard import dashboard_stats, low_credit_accounts
from jobs.models import CallStatus, Job, LLMCall
from jobs.services import job_complete, job_create
from teams.models import Team
from teams.services import team_create, team_status_set
from usage.services import usage_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def funded_team(organization, team_id: str, credits: int) -> Team:
    team = team_create(organization=organization, team_id=team_id, actor="t").key.team
    credit_add(team=team, credits=credits, actor="t")
    return team


def call(job: Job, status: str, provider: str, client: str) -> LLMCall:
    """A call with its outcome recorded (its rollup written, as recording does)."""
    recorded = LLMCall.objects.create(
        job=job,
        team=job.team,
        model_alias="chat",
        status=status,
        provider_cost_usd=Decimal(provider),
        client_cost_usd=Decimal(client),
    )
    usage_record(call=recorded)
    return recorded


def test_the_home_shows_the_dashboard_above_the_app_list(operator, team):
    page = operator.get(reverse("admin:index"))
    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    assert html.index("At a glance") < html.index('class="app-teams')
    assert html.count('<svg class="chart"') == 3
    assert 'role="img"' in html


def test_the_charts_coordinates_are_numbers_in_any_language(operator, settings):
    """SVG reads "12.5", not a language's "12,5"."""
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override("de"):
        html = operator.get(reverse("admin:index")).content.decode()
    start = html.index('<svg class="chart"')
    svg = html[start : html.index("</svg>", start)]
    coordinates = re.findall(r' (?:x|width)="([^"]*)"', svg)
    assert len(coordinates) == 60  # 30 days, each a hover area
    assert all(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value) for value in coordinates)


def test_the_numbers_count_teams_jobs_calls_credits_and_margin(team, other_team):
    team_status_set(team=other_team, status="suspended", actor="t")
    job = job_create(team=team, job_type="a")
    call(job, CallStatus.SUCCEEDED, provider="0.30", client="0.40")
    call(job, CallStatus.FAILED, provider="0.10", client="0.10")
    job_complete(team=team, job_id=str(job.job_id), status="completed")
    stats = dashboard_stats()
    assert stats["organizations"] == 1
    assert stats["teams"] == {"total": 2, "active": 1, "suspended": 1, "paused": 0}
    assert (stats["jobs_today"], stats["jobs_30d"]) == (1, 1)
    assert (stats["calls_30d"], stats["failed_calls_30d"]) == (2, 1)
    assert stats["failed_call_rate"] == Decimal("50.0")
    assert stats["credits_30d"] == 1  # job_based: one credit per completed job
    assert stats["provider_cost_30d"] == Decimal("0.40")
    assert stats["billed_30d"] == Decimal("0.50")
    assert stats["margin_30d"] == Decimal("0.10")
    assert stats["margin_percent"] == Decimal("20.0")


def test_old_jobs_fall_out_of_the_30_days_and_today_is_the_last_point(team):
    old = job_create(team=team, job_type="old")
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    job_create(team=team, job_type="new")
    stats = dashboard_stats()
    assert stats["jobs_30d"] == 1
    assert len(stats["daily"]) == 30
    assert stats["daily"][-1].day == timezone.now().date()
    assert [point.jobs for point in stats["daily"]] == [0] * 29 + [1]


def test_teams_under_the_floor_are_low_unless_suspended(organization):
    funded_team(organization, "plenty", 100)
    funded_team(organization, "at-the-floor", 10)
    funded_team(organization, "small", 5)
    funded_team(organization, "smaller", 3)
    suspended = funded_team(organization, "suspended", 1)
    team_status_set(team=suspended, status="suspended", actor="t")
    count, low = low_credit_accounts()
    assert [a.team.team_id for a in low] == ["smaller", "small"]
    assert count == dashboard_stats()["low_credit_count"] == 2
    assert low_credit_accounts(limit=1) == (2, low[:1])


def test_a_team_under_ten_percent_of_its_allocation_is_low(organization):
    team = funded_team(organization, "spent", 200)
    team.budget_mode, team.credits_per_dollar = "consumption_usd", Decimal(10)
    team.save()
    job = job_create(team=team, job_type="big")
    call(job, CallStatus.SUCCEEDED, provider="18.00", client="18.50")
    job_complete(team=team, job_id=str(job.job_id), status="completed")
    funded_team(organization, "fine", 200)
    _, [low] = low_credit_accounts()
    assert (low.team.team_id, low.available) == ("spent", 15)
