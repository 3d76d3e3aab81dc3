"""Every 401 carries a machine code beside the guide's detail: `invalid_api_key` for
team keys, `invalid_admin_key` for the admin key."""

from __future__ import annotations

import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from teams.services import virtual_key_create, virtual_key_revoke

pytestmark = pytest.mark.django_db

TEAM_401 = {"detail": "Invalid or missing API key", "code": "invalid_api_key"}
ADMIN_401 = {"detail": "Invalid or missing admin key", "code": "invalid_admin_key"}


def get(path: str, **headers: str):
    return APIClient().get(path, headers=headers)


def assert_team_401(response) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**TEAM_401, "request_id": response["X-Request-Id"]}
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer sk-123", "Bearer sk-" + "0" * 32],
    ids=["missing", "wrong scheme", "bad format", "unknown"],
)
def test_a_refused_team_key_says_invalid_api_key(team, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    assert_team_401(get("/api/teams/verify", **headers))


def test_a_revoked_key_says_invalid_api_key(issued_team_key):
    key = issued_team_key.key
    virtual_key_revoke(team=key.team, key_id=key.key_id, actor="t")
    response = get(
        "/api/teams/verify", Authorization=f"Bearer {issued_team_key.plaintext}"
    )
    assert_team_401(response)


def test_an_expired_key_says_invalid_api_key(team):
    expires = timezone.now() + timedelta(seconds=0.2)
    issued = virtual_key_create(team=team, actor="t", expires_at=expires)
    time.sleep(0.3)
    assert_team_401(
        get("/api/teams/verify", Authorization=f"Bearer {issued.plaintext}")
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Admin-Key": "wrong"}, {"Authorization": "Bearer sk-" + "0" * 32}],
    ids=["missing", "wrong", "team key"],
)
def test_a_refused_admin_key_says_invalid_admin_key(db, headers):
    response = get("/api/organizations", **headers)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}


def test_a_team_endpoint_without_a_key_says_invalid_api_key(team):
    assert_team_401(get("/api/credits/teams/acme-corp/balance"))
