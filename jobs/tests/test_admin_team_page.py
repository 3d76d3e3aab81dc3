"""The team page of the dashboard: balance, holds, keys, recent jobs, usage chart, and
the changes made from it going through the services."""

from __future__ import annotations

import re
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from credits.models import LedgerEntry
from jobs.services import job_create
from teams.models import AuditLog, Organization, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def team_page(operator: Client, team: Team) -> str:
    response = operator.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def budget_mode_action(operator: Client, team: Team, **form) -> object:
    return operator.post(
        reverse("admin:teams_team_changelist"),
        {"action": "change_budget_mode", "_selected_action": [team.pk], **form},
    )


def test_the_team_page_shows_balance_keys_holds_jobs_and_a_usage_chart(
    operator, team, issued_team_key
):
    job = job_create(team=team, job_type="summarise")
    page = team_page(operator, team)
    assert "99 remaining" in page  # one credit held for the open job
    assert issued_team_key.key.key_prefix in page
    assert issued_team_key.plaintext not in page
    assert str(job.job_id) in page  # in recent jobs and open holds
    assert "summarise" in page
    assert page.count('<svg class="chart"') == 3
    assert "Issue a new key" in page


def test_team_page_text_is_escaped(operator, team):
    job_create(team=team, job_type="<script>alert(1)</script>")
    page = team_page(operator, team)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_budget_mode_action_asks_first_then_changes_through_the_service(
    operator, team
):
    form_page = budget_mode_action(operator, team)
    assert form_page.status_code == HTTPStatus.OK
    assert 'name="budget_mode"' in form_page.content.decode()
    assert Team.objects.get(pk=team.pk).budget_mode == "job_based"
    budget_mode_action(
        operator, team, apply="1", budget_mode="consumption_usd", markup_percent="25"
    )
    team.refresh_from_db()
    assert (team.budget_mode, team.markup_percent) == ("consumption_usd", Decimal(25))
    entry = AuditLog.objects.filter(action="team.update", actor="admin:op").get()
    assert entry.after["budget_mode"] == "consumption_usd"


def test_a_bad_budget_mode_form_changes_nothing(operator, team):
    response = budget_mode_action(
        operator, team, apply="1", budget_mode="free_for_all", tokens_per_credit="0"
    )
    assert response.status_code == HTTPStatus.OK
    assert "errorlist" in response.content.decode()
    assert Team.objects.get(pk=team.pk).budget_mode == "job_based"


def test_saving_the_team_form_goes_through_the_settings_service(operator, team):
    url = reverse("admin:teams_team_change", args=[team.pk])
    form = {
        "team_alias": "Renamed",
        "budget_mode": "consumption_tokens",
        "tokens_per_credit": 500,
        "credits_per_dollar": "10",
        "markup_percent": "0",
        "metadata": "{}",
        "payload_log_days": 14,
    }
    assert operator.post(url, form).status_code == HTTPStatus.FOUND
    team.refresh_from_db()
    assert (team.team_alias, team.tokens_per_credit) == ("Renamed", 500)
    assert team.payload_log_days == 14
    entry = AuditLog.objects.filter(action="team.update", actor="admin:op").get()
    assert entry.before["tokens_per_credit"] == 10_000
    assert entry.after["tokens_per_credit"] == 500


def test_adding_a_team_with_initial_credits_funds_it_and_shows_the_key_once(
    operator, organization: Organization
):
    response = operator.post(
        reverse("admin:teams_team_add"),
        {"organization": organization.pk, "team_id": "funded", "initial_credits": 40},
    )
    assert "will not be shown again" in response.content.decode()
    assert re.search(r"sk-[0-9a-f]{32}", response.content.decode())
    entry = LedgerEntry.objects.get(account__team__team_id="funded")
    assert (entry.amount, entry.actor) == (40, "admin:op")


def test_adding_credits_returns_to_the_team_page(operator, team):
    url = reverse(
        "admin:credits_creditaccount_add_credits", args=[team.credit_account.pk]
    )
    token = re.search(
        r'name="token" value="([0-9a-f-]+)"', operator.get(url).content.decode()
    ).group(1)
    response = operator.post(url, {"credits": 5, "token": token})
    assert response["Location"] == reverse("admin:teams_team_change", args=[team.pk])
    assert "105 remaining" in team_page(operator, team)


def test_issue_a_new_key_opens_the_key_form_for_this_team(operator, team):
    page = team_page(operator, team)
    url = re.search(r'href="([^"]+)">Issue a new key', page).group(1)
    form = operator.get(url.replace("&amp;", "&")).content.decode()
    assert f'<option value="{team.pk}" selected>' in form
