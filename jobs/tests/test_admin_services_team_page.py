"""The team page is registered once (jobs/admin.py), built on the teams and credits
parts; a team cannot be deleted from it, since no service deletes a team."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from credits.admin import TeamAdminWithCredits
from jobs.admin import TeamAdmin
from teams.admin import TeamAdminBase
from teams.models import AuditLog, Team
from teams.tests.factories import ModelAccessGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def test_the_one_team_page_is_composed_of_each_apps_part():
    assert type(admin.site._registry[Team]) is TeamAdmin
    assert TeamAdmin.__mro__[1:3] == (TeamAdminWithCredits, TeamAdminBase)


def test_a_team_cannot_be_deleted_from_the_dashboard(operator, team):
    page = operator.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert "deletelink" not in page.content.decode()
    changelist = operator.get(reverse("admin:teams_team_changelist"))
    assert 'value="delete_selected"' not in changelist.content.decode()
    url = reverse("admin:teams_team_delete", args=[team.pk])
    assert operator.post(url, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN


def test_changing_access_groups_on_the_team_page_is_one_settings_update(operator, team):
    group = ModelAccessGroupFactory(group_name="extra")
    url = reverse("admin:teams_team_change", args=[team.pk])
    form = {"budget_mode": "job_based", "tokens_per_credit": 10_000,
            "credits_per_dollar": "10", "markup_percent": "0", "metadata": "{}",
            "payload_log_days": 0, "access_groups": [group.pk]}  # fmt: skip
    assert operator.post(url, form).status_code == HTTPStatus.FOUND
    assert list(team.access_groups.all()) == [group]
    entry = AuditLog.objects.get(action="team.update", actor="admin:op")
    assert entry.after["access_groups"] == ["extra"]
