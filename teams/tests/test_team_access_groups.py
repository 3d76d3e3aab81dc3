from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog
from teams.tests.factories import ModelAccessGroupFactory

pytestmark = pytest.mark.django_db


def test_an_operator_replaces_a_teams_access_groups(admin_client_api, team, gpt_group):
    response = admin_client_api.put(
        "/api/teams/acme-corp/access-groups",
        {"access_groups": ["gpt-models"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "team_id": "acme-corp",
        "access_groups": ["gpt-models"],
        "allowed_models": ["chat-fast"],
    }
    assert AuditLog.objects.filter(action="team.access_groups.set").exists()


def test_an_unknown_group_is_404_and_changes_nothing(
    admin_client_api, team_with_groups
):
    ModelAccessGroupFactory(group_name="other")
    response = admin_client_api.put(
        "/api/teams/with-groups/access-groups",
        {"access_groups": ["other", "missing"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "missing" in response.json()["detail"]
    names = [g.group_name for g in team_with_groups.access_groups.all()]
    assert names == ["gpt-models"]


def test_an_empty_list_removes_every_group(admin_client_api, team_with_groups):
    response = admin_client_api.put(
        "/api/teams/with-groups/access-groups", {"access_groups": []}, format="json"
    )
    assert response.json()["access_groups"] == []


def test_access_groups_must_be_a_list(admin_client_api, team):
    response = admin_client_api.put(
        "/api/teams/acme-corp/access-groups", {"access_groups": "gpt"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "access_groups" in response.json()["errors"]


def test_a_team_key_cannot_change_access_groups(team_client, gpt_group):
    response = team_client.put(
        "/api/teams/acme-corp/access-groups",
        {"access_groups": ["gpt-models"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
