"""The "viewer" group (a data migration): staff who can look at every dashboard page
but change nothing, run no action and see no secret."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from teams.models import AuditLog, ProviderCredential, Team, VirtualKey
from teams.services import provider_credential_create

pytestmark = pytest.mark.django_db

PROVIDER_SECRET = "sk-provider-viewer-test-5555"
CHANGELISTS = [
    "teams_organization", "teams_team", "teams_virtualkey", "teams_modelalias",
    "teams_modelaccessgroup", "teams_providercredential", "teams_auditlog",
    "jobs_job", "jobs_llmcall", "credits_ledgerentry", "credits_creditaccount",
    "credits_credithold",
]  # fmt: skip


@pytest.fixture
def viewer(db) -> Client:
    user = get_user_model().objects.create_user("watcher", password=None, is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def credential(organization) -> ProviderCredential:
    return provider_credential_create(
        actor="tests",
        organization=organization,
        provider="openai",
        credential_name="viewer-cred",
        api_key=PROVIDER_SECRET,
    )


def test_the_viewer_group_holds_only_view_permissions():
    codenames = Group.objects.get(name="viewer").permissions.values_list(
        "codename", flat=True
    )
    assert "view_team" in codenames
    assert "view_ledgerentry" in codenames
    assert "view_llmcall" in codenames
    assert all(codename.startswith("view_") for codename in codenames)


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_a_viewer_can_open_every_list_page(viewer, team, changelist):
    response = viewer.get(reverse(f"admin:{changelist}_changelist"))
    assert response.status_code == HTTPStatus.OK


def test_a_viewer_sees_a_team_page_without_a_save_button(viewer, team):
    page = viewer.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert page.status_code == HTTPStatus.OK
    assert "100 remaining" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()


def test_a_viewer_cannot_change_or_add_a_team(viewer, team, organization):
    change = viewer.post(
        reverse("admin:teams_team_change", args=[team.pk]),
        {"team_alias": "renamed", "budget_mode": "consumption_tokens"},
    )
    add = viewer.post(
        reverse("admin:teams_team_add"),
        {"organization": organization.pk, "team_id": "by-viewer"},
    )
    assert change.status_code == add.status_code == HTTPStatus.FORBIDDEN
    assert not Team.objects.filter(team_id="by-viewer").exists()
    assert Team.objects.get(pk=team.pk).team_alias == team.team_alias


def test_a_viewer_is_offered_no_action(viewer, team):
    for changelist in ("teams_team", "teams_virtualkey", "credits_creditaccount"):
        page = viewer.get(reverse(f"admin:{changelist}_changelist"))
        assert 'name="action"' not in page.content.decode(), changelist


def test_a_viewer_posting_an_action_changes_nothing(viewer, issued_team_key):
    team = issued_team_key.key.team
    viewer.post(
        reverse("admin:teams_team_changelist"),
        {"action": "suspend_teams", "_selected_action": [team.pk]},
    )
    rotate = viewer.post(
        reverse("admin:teams_virtualkey_changelist"),
        {"action": "rotate_keys", "_selected_action": [issued_team_key.key.pk]},
    )
    assert Team.objects.get(pk=team.pk).status == "active"
    assert VirtualKey.objects.filter(team=team).count() == 1
    assert not re.search(r"sk-[0-9a-f]{32}", rotate.content.decode())
    assert not AuditLog.objects.filter(actor="admin:watcher").exists()


def test_a_viewer_cannot_add_credits(viewer, team):
    url = reverse(
        "admin:credits_creditaccount_add_credits", args=[team.credit_account.pk]
    )
    assert viewer.get(url).status_code == HTTPStatus.FORBIDDEN
    assert viewer.post(url, {"credits": 5}).status_code == HTTPStatus.FORBIDDEN


def test_a_viewer_never_sees_a_provider_secret(viewer, credential):
    url = reverse("admin:teams_providercredential_change", args=[credential.pk])
    response = viewer.get(url)
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    assert PROVIDER_SECRET not in page
    assert credential.encrypted_api_key not in page
    assert viewer.post(url, {"api_key": "x"}).status_code == HTTPStatus.FORBIDDEN
