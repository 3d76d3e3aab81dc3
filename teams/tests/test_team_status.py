from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog, Team

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("action", "status"),
    [("suspend", "suspended"), ("pause", "paused"), ("resume", "active")],
)
def test_an_operator_sets_a_team_status(admin_client_api, team, action, status):
    response = admin_client_api.put(f"/api/teams/acme-corp/{action}")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["team_id"], body["status"]) == ("acme-corp", status)
    assert body["message"]
    assert Team.objects.get(team_id="acme-corp").status == status


def test_a_status_change_is_audit_logged(admin_client_api, team):
    admin_client_api.put("/api/teams/acme-corp/suspend")
    entry = AuditLog.objects.get(action="team.status.suspended")
    assert (entry.before, entry.after) == (
        {"status": "active"},
        {"status": "suspended"},
    )
    assert entry.actor == "operator:admin-key"


def test_resuming_a_paused_team_makes_it_active(admin_client_api, team):
    admin_client_api.put("/api/teams/acme-corp/pause")
    response = admin_client_api.put("/api/teams/acme-corp/resume")
    assert response.json()["status"] == "active"


def test_an_unknown_team_is_404(admin_client_api, db):
    response = admin_client_api.put("/api/teams/nope/suspend")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Team 'nope' not found"


def test_a_team_cannot_suspend_itself(team_client):
    response = team_client.put("/api/teams/acme-corp/suspend")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing admin key",
        "code": "invalid_admin_key",
        "request_id": response["X-Request-Id"],
    }
    assert Team.objects.get(team_id="acme-corp").status == "active"


def test_status_endpoints_refuse_get(admin_client_api, team):
    response = admin_client_api.get("/api/teams/acme-corp/pause")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
