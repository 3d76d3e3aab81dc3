from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog

pytestmark = pytest.mark.django_db


def test_a_revoked_key_is_refused_on_the_next_request(
    admin_client_api, issued_team_key, team_client
):
    assert team_client.get("/api/teams/verify").status_code == HTTPStatus.OK
    key_id = issued_team_key.key.key_id
    response = admin_client_api.post(f"/api/teams/acme-corp/keys/{key_id}/revoke")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["revoked_at"] is not None
    assert response.json()["status"] == "revoked"
    assert team_client.get("/api/teams/verify").status_code == 401


def test_a_revocation_is_audit_logged(admin_client_api, issued_team_key):
    key_id = issued_team_key.key.key_id
    admin_client_api.post(f"/api/teams/acme-corp/keys/{key_id}/revoke")
    entry = AuditLog.objects.get(action="key.revoke")
    assert entry.object_id == str(key_id)


def test_revoking_twice_keeps_the_first_time(admin_client_api, issued_team_key):
    url = f"/api/teams/acme-corp/keys/{issued_team_key.key.key_id}/revoke"
    first = admin_client_api.post(url).json()
    second = admin_client_api.post(url).json()
    assert first["revoked_at"] == second["revoked_at"]


def test_revoking_another_teams_key_through_this_team_is_404(
    admin_client_api, team, other_team
):
    key_id = other_team.keys.get().key_id
    response = admin_client_api.post(f"/api/teams/acme-corp/keys/{key_id}/revoke")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert other_team.keys.get().revoked_at is None


def test_a_malformed_key_id_is_404(admin_client_api, team):
    response = admin_client_api.post("/api/teams/acme-corp/keys/123/revoke")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_team_key_cannot_revoke(team_client, issued_team_key):
    url = f"/api/teams/acme-corp/keys/{issued_team_key.key.key_id}/revoke"
    assert team_client.post(url).status_code == HTTPStatus.UNAUTHORIZED
