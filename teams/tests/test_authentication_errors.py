from __future__ import annotations

import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from teams.services import virtual_key_create, virtual_key_revoke

pytestmark = pytest.mark.django_db

TEAM_401 = {"detail": "Invalid or missing API key", "code": "invalid_api_key"}
ADMIN_401 = {"detail": "Invalid or missing admin key", "code": "invalid_admin_key"}
CURRENT_ADMIN_KEY = "current-admin-key-" + "a" * 32
NEXT_ADMIN_KEY = "next-admin-key-" + "b" * 32


def verify(authorization: str | None = None):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client.get("/api/teams/verify")


def assert_team_401(response) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**TEAM_401, "request_id": response["X-Request-Id"]}
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_missing_header_is_401(db):
    assert_team_401(verify())


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer:"])
def test_a_wrong_scheme_is_401(team_key, scheme):
    assert_team_401(verify(f"{scheme} {team_key}"))


@pytest.mark.parametrize(
    "token", ["sk-123", "sk-" + "A" * 32, "sk-" + "0" * 33, "", "sk-" + "g" * 32]
)
def test_a_malformed_key_is_401_without_a_query(db, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = verify(f"Bearer {token}")
    assert_team_401(response)


def test_an_unknown_key_is_401(team):
    assert_team_401(verify("Bearer sk-" + "0" * 32))


def test_a_revoked_key_is_401(issued_team_key):
    virtual_key_revoke(
        team=issued_team_key.key.team, key_id=issued_team_key.key.key_id, actor="t"
    )
    assert_team_401(verify(f"Bearer {issued_team_key.plaintext}"))


def test_an_expired_key_is_401(team):
    issued = virtual_key_create(
        team=team, actor="t", expires_at=timezone.now() + timedelta(seconds=0.3)
    )
    assert verify(f"Bearer {issued.plaintext}").status_code == HTTPStatus.OK
    time.sleep(0.4)
    assert_team_401(verify(f"Bearer {issued.plaintext}"))


def test_the_admin_key_is_not_a_team_key(db, settings):
    assert_team_401(verify(f"Bearer {settings.MASTER_KEY}"))


def test_a_team_key_is_not_an_admin_key(team_key):
    client = APIClient()
    client.credentials(HTTP_X_ADMIN_KEY=team_key)
    response = client.get("/api/organizations")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}


def test_a_team_bearer_key_on_an_admin_endpoint_is_401(team_client):
    response = team_client.get("/api/model-access-groups")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}


def test_a_missing_admin_key_is_401(db):
    response = APIClient().get("/api/organizations")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}


def admin_get(admin_key: str):
    client = APIClient()
    client.credentials(HTTP_X_ADMIN_KEY=admin_key)
    return client.get("/api/organizations")


@override_settings(MASTER_KEY=CURRENT_ADMIN_KEY, MASTER_KEY_NEXT=NEXT_ADMIN_KEY)
def test_during_an_admin_key_switch_both_keys_work(db):
    assert admin_get(CURRENT_ADMIN_KEY).status_code == HTTPStatus.OK
    assert admin_get(NEXT_ADMIN_KEY).status_code == HTTPStatus.OK


@override_settings(MASTER_KEY=CURRENT_ADMIN_KEY, MASTER_KEY_NEXT=NEXT_ADMIN_KEY)
def test_during_an_admin_key_switch_other_keys_are_refused(db):
    response = admin_get("other-admin-key-" + "c" * 32)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}
    assert admin_get(CURRENT_ADMIN_KEY[:-1]).status_code == 401


@override_settings(MASTER_KEY=NEXT_ADMIN_KEY, MASTER_KEY_NEXT="")
def test_after_the_switch_the_old_admin_key_is_refused(db):
    assert admin_get(CURRENT_ADMIN_KEY).status_code == HTTPStatus.UNAUTHORIZED
    assert admin_get(NEXT_ADMIN_KEY).status_code == HTTPStatus.OK


@override_settings(ADMIN_LOOPBACK_TRUST=True)
def test_loopback_trust_lets_a_local_request_act_as_operator(db):
    response = APIClient().get("/api/organizations", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == HTTPStatus.OK


@override_settings(ADMIN_LOOPBACK_TRUST=True)
def test_loopback_trust_ignores_forwarded_requests(db):
    response = APIClient().get(
        "/api/organizations", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {**ADMIN_401, "request_id": response["X-Request-Id"]}


@override_settings(ADMIN_LOOPBACK_TRUST=True)
def test_loopback_trust_ignores_remote_addresses(db):
    response = APIClient().get("/api/organizations", REMOTE_ADDR="10.0.0.5")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


@override_settings(ADMIN_LOOPBACK_TRUST=True)
def test_loopback_trust_does_not_apply_to_a_bad_admin_key(db):
    assert admin_get("wrong").status_code == HTTPStatus.UNAUTHORIZED


def test_loopback_trust_is_off_by_default(db):
    response = APIClient().get("/api/organizations", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
