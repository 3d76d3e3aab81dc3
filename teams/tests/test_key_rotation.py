from __future__ import annotations

import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from teams.models import AuditLog, VirtualKey

pytestmark = pytest.mark.django_db

ROTATE = "/api/teams/acme-corp/keys/{}/rotate"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def rotate(client, key_id, idempotency_key=None, **body):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return client.post(ROTATE.format(key_id), body, format="json", headers=headers)


def test_rotation_issues_a_new_key_once(admin_client_api, issued_team_key):
    response = rotate(admin_client_api, issued_team_key.key.key_id)
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    new_key = VirtualKey.objects.get(key_id=body["key_id"])
    assert new_key.rotated_from == issued_team_key.key
    assert bearer(body["virtual_key"]).get("/api/teams/verify").status_code == 200
    assert AuditLog.objects.filter(action="key.rotate").count() == 1


def test_the_old_key_keeps_working_during_the_grace(
    admin_client_api, issued_team_key, team_client
):
    rotate(admin_client_api, issued_team_key.key.key_id, grace_seconds=3600)
    assert team_client.get("/api/teams/verify").status_code == HTTPStatus.OK


def test_the_default_grace_is_one_day(admin_client_api, issued_team_key):
    body = rotate(admin_client_api, issued_team_key.key.key_id).json()
    issued_team_key.key.refresh_from_db()
    remaining = (
        issued_team_key.key.expires_at
        - VirtualKey.objects.get(key_id=body["key_id"]).created_at
    )
    assert 86399 <= remaining.total_seconds() <= 86401


def test_a_zero_grace_refuses_the_old_key_at_once(
    admin_client_api, issued_team_key, team_client
):
    rotate(admin_client_api, issued_team_key.key.key_id, grace_seconds=0)
    response = team_client.get("/api/teams/verify")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_the_old_key_is_refused_after_the_grace(
    admin_client_api, issued_team_key, team_client
):
    rotate(admin_client_api, issued_team_key.key.key_id, grace_seconds=1)
    assert team_client.get("/api/teams/verify").status_code == HTTPStatus.OK
    time.sleep(1.1)
    assert team_client.get("/api/teams/verify").status_code == 401


def _key_expiring(client, expires_at: str) -> str:
    return client.post(
        "/api/teams/acme-corp/keys",
        {"name": "short", "expires_at": expires_at},
        format="json",
    ).json()["key_id"]


def test_rotation_never_extends_an_earlier_expiry(admin_client_api, team):
    soon = (timezone.now() + timedelta(minutes=5)).isoformat()
    key_id = _key_expiring(admin_client_api, soon)
    rotate(admin_client_api, key_id, grace_seconds=3600)
    assert VirtualKey.objects.get(key_id=key_id).expires_at.isoformat() == soon


def test_rotation_shortens_a_later_expiry_to_the_grace(admin_client_api, team):
    key_id = _key_expiring(admin_client_api, "2099-01-01T00:00:00Z")
    rotate(admin_client_api, key_id, grace_seconds=60)
    remaining = VirtualKey.objects.get(key_id=key_id).expires_at - timezone.now()
    assert 0 < remaining.total_seconds() <= 60


def test_an_already_rotated_key_cannot_be_rotated_again(
    admin_client_api, issued_team_key
):
    rotate(admin_client_api, issued_team_key.key.key_id)
    response = rotate(admin_client_api, issued_team_key.key.key_id)
    assert response.status_code == HTTPStatus.CONFLICT
    assert issued_team_key.key.team.keys.count() == 2


def test_a_revoked_key_cannot_be_rotated(admin_client_api, issued_team_key):
    key_id = issued_team_key.key.key_id
    admin_client_api.post(f"/api/teams/acme-corp/keys/{key_id}/revoke")
    response = rotate(admin_client_api, key_id)
    assert response.status_code == HTTPStatus.CONFLICT


def test_a_retry_with_the_same_idempotency_key_does_not_rotate_again(
    admin_client_api, issued_team_key
):
    key_id = issued_team_key.key.key_id
    first = rotate(admin_client_api, key_id, "retry-1", grace_seconds=60)
    second = rotate(admin_client_api, key_id, "retry-1", grace_seconds=60)
    assert (first.status_code, second.status_code) == (201, HTTPStatus.OK)
    assert second.json()["key_id"] == first.json()["key_id"]
    assert second.json()["key_prefix"] == first.json()["key_prefix"]
    assert "virtual_key" not in second.json()
    assert second.json()["detail"] == (
        "Already rotated with this Idempotency-Key; the new key was shown once"
    )
    assert issued_team_key.key.team.keys.count() == 2


def test_a_retry_after_a_zero_grace_rotation_is_still_replayed(
    admin_client_api, issued_team_key
):
    key_id = issued_team_key.key.key_id
    rotate(admin_client_api, key_id, "retry-0", grace_seconds=0)
    assert (
        rotate(admin_client_api, key_id, "retry-0", grace_seconds=0).status_code == 200
    )


def test_an_idempotency_key_reused_for_another_key_is_422(
    admin_client_api, issued_team_key
):
    other = admin_client_api.post("/api/teams/acme-corp/keys", {}, format="json")
    rotate(admin_client_api, issued_team_key.key.key_id, "same")
    response = rotate(admin_client_api, other.json()["key_id"], "same")
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "idempotency_key_reused"
    assert issued_team_key.key.team.keys.count() == 3


def test_an_idempotency_key_reused_with_another_grace_is_422(
    admin_client_api, issued_team_key
):
    rotate(admin_client_api, issued_team_key.key.key_id, "g", grace_seconds=60)
    response = rotate(
        admin_client_api, issued_team_key.key.key_id, "g", grace_seconds=5
    )
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def test_an_over_long_idempotency_key_is_a_400(admin_client_api, issued_team_key):
    response = rotate(admin_client_api, issued_team_key.key.key_id, "k" * 201)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert issued_team_key.key.team.keys.count() == 1


@pytest.mark.parametrize("grace", [-1, "60", 1.5, True, 10**12])
def test_a_bad_grace_is_a_400(admin_client_api, issued_team_key, grace):
    response = rotate(admin_client_api, issued_team_key.key.key_id, grace_seconds=grace)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "grace_seconds" in response.json()["errors"]


@pytest.mark.parametrize(
    "key_id", ["not-a-uuid", "6f1c2b9e-4a51-4c1e-9f0e-2d8b7c6a5e41"]
)
def test_an_unknown_or_malformed_key_id_is_404(admin_client_api, team, key_id):
    response = rotate(admin_client_api, key_id)
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_another_teams_key_id_is_404(admin_client_api, team, other_team):
    response = rotate(admin_client_api, other_team.keys.get().key_id)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not other_team.keys.get().expires_at


def test_a_team_key_cannot_rotate(team_client, issued_team_key):
    response = rotate(team_client, issued_team_key.key.key_id)
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_the_key_list_shows_the_rotation(admin_client_api, issued_team_key):
    new_key_id = rotate(admin_client_api, issued_team_key.key.key_id).json()["key_id"]
    keys = {
        k["key_id"]: k for k in admin_client_api.get("/api/teams/acme-corp/keys").json()
    }
    assert keys[new_key_id]["rotated_from"] == str(issued_team_key.key.key_id)
    assert keys[str(issued_team_key.key.key_id)]["rotated_from"] is None
    assert keys[str(issued_team_key.key.key_id)]["status"] == "active"
