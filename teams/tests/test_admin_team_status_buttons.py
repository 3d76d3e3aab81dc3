"""Suspend, pause and resume from a team's page: a confirmation, then the service."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from teams.models import AuditLog, Team

pytestmark = pytest.mark.django_db


def status_url(team: Team, status: str) -> str:
    return reverse("admin:teams_team_status", args=[team.pk, status])


def test_the_team_page_offers_the_other_statuses(superuser_client, team):
    page = superuser_client.get(reverse("admin:teams_team_change", args=[team.pk]))
    html = page.content.decode()
    assert status_url(team, "suspended") in html
    assert status_url(team, "paused") in html
    assert status_url(team, "active") not in html


def test_suspending_asks_first_then_goes_through_the_service(superuser_client, team):
    confirm = superuser_client.get(status_url(team, "suspended"))
    assert confirm.status_code == HTTPStatus.OK
    assert Team.objects.get(pk=team.pk).status == "active"
    response = superuser_client.post(status_url(team, "suspended"))
    assert response["Location"] == reverse("admin:teams_team_change", args=[team.pk])
    assert Team.objects.get(pk=team.pk).status == "suspended"
    assert AuditLog.objects.filter(
        action="team.status.suspended", actor="admin:operator"
    ).exists()


def test_an_unknown_status_or_team_is_not_found(superuser_client, team):
    assert superuser_client.get(status_url(team, "deleted")).status_code == 404
    missing = reverse("admin:teams_team_status", args=[999999, "paused"])
    assert superuser_client.post(missing).status_code == HTTPStatus.NOT_FOUND


def test_a_viewer_gets_no_status_buttons_and_cannot_post(team):
    user = get_user_model().objects.create_user("looker", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    viewer = Client()
    viewer.force_login(user)
    page = viewer.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert status_url(team, "suspended") not in page.content.decode()
    response = viewer.post(status_url(team, "suspended"))
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Team.objects.get(pk=team.pk).status == "active"
