from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from teams.keys import virtual_key_is_well_formed

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_new_key_is_shown_once_and_works(admin_client_api, team):
    response = admin_client_api.post(
        "/api/teams/acme-corp/keys", {"name": "production"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert set(body) == {
        "key_id", "name", "key_prefix", "virtual_key", "created_at", "expires_at"
    }  # fmt: skip
    assert virtual_key_is_well_formed(body["virtual_key"])
    assert body["key_prefix"] == f"{body['virtual_key'][:7]}…{body['virtual_key'][-4:]}"
    assert bearer(body["virtual_key"]).get("/api/teams/verify").json()["key_name"] == (
        "production"
    )


def test_the_key_list_shows_display_forms_only(admin_client_api, team, team_key):
    admin_client_api.post("/api/teams/acme-corp/keys", {"name": "ci"}, format="json")
    response = admin_client_api.get("/api/teams/acme-corp/keys")
    assert response.status_code == HTTPStatus.OK
    assert sorted(k["name"] for k in response.json()) == ["ci", "default"]
    assert team_key not in response.content.decode()
    assert all("virtual_key" not in k for k in response.json())


def test_a_key_can_expire_in_the_future(admin_client_api, team):
    response = admin_client_api.post(
        "/api/teams/acme-corp/keys",
        {"name": "temp", "expires_at": "2099-01-01T00:00:00Z"},
        format="json",
    )
    assert response.json()["expires_at"] == "2099-01-01T00:00:00Z"


def test_an_expiry_in_the_past_is_refused(admin_client_api, team):
    response = admin_client_api.post(
        "/api/teams/acme-corp/keys",
        {"name": "old", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert team.keys.count() == 1


@pytest.mark.parametrize(
    "body", [{"name": "x" * 101}, {"name": 3}, {"expires_at": "tomorrow"}]
)
def test_bad_key_input_is_a_400(admin_client_api, team, body):
    response = admin_client_api.post("/api/teams/acme-corp/keys", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "errors" in response.json()
    assert team.keys.count() == 1


def test_keys_of_an_unknown_team_are_404(admin_client_api, db):
    assert admin_client_api.get("/api/teams/nope/keys").status_code == 404
    response = admin_client_api.post("/api/teams/nope/keys", {}, format="json")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_team_key_cannot_create_keys(team_client, team):
    response = team_client.post("/api/teams/acme-corp/keys", {}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing admin key",
        "code": "invalid_admin_key",
        "request_id": response["X-Request-Id"],
    }
    assert team.keys.count() == 1


def test_another_teams_key_cannot_list_keys(other_team_client, team):
    response = other_team_client.get("/api/teams/acme-corp/keys")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
