from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog, Organization

pytestmark = pytest.mark.django_db


def test_an_operator_creates_an_organization(admin_client_api):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "org_new", "name": "New", "metadata": {"tier": "gold"}},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["organization_id"] == "org_new"
    assert body["metadata"] == {"tier": "gold"}
    assert body["created_at"].endswith("Z")
    assert AuditLog.objects.filter(action="organization.create").exists()


def test_a_duplicate_organization_is_a_conflict(admin_client_api, organization):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "org_acme", "name": "Again"},
        format="json",
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert "already exists" in response.json()["detail"]


def test_an_invalid_organization_id_is_a_400_with_errors(admin_client_api):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "bad id!", "name": 5},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {"organization_id", "name"}
    assert not Organization.objects.exists()


def test_organizations_are_listed_and_fetched(admin_client_api, organization):
    listed = admin_client_api.get("/api/organizations").json()
    fetched = admin_client_api.get("/api/organizations/org_acme").json()
    assert [o["organization_id"] for o in listed] == ["org_acme"]
    assert fetched["name"] == "ACME"


def test_an_unknown_organization_is_404(admin_client_api, db):
    response = admin_client_api.get("/api/organizations/nope")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Organization 'nope' not found"


def test_an_organizations_teams_show_no_balances(admin_client_api, team):
    response = admin_client_api.get("/api/organizations/org_acme/teams")
    assert response.status_code == HTTPStatus.OK
    [listed] = response.json()
    assert set(listed) == {"team_id", "team_alias", "status", "created_at"}
    assert listed["team_id"] == "acme-corp"


def test_teams_of_an_unknown_organization_are_404(admin_client_api, db):
    response = admin_client_api.get("/api/organizations/nope/teams")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_team_key_cannot_manage_organizations(team_client):
    response = team_client.get("/api/organizations")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing admin key",
        "code": "invalid_admin_key",
        "request_id": response["X-Request-Id"],
    }
