from __future__ import annotations

from http import HTTPStatus

import pytest
from django.utils import timezone

from teams.models import VirtualKey

pytestmark = pytest.mark.django_db


def test_verify_describes_the_key_and_its_team(team_client, issued_team_key):
    response = team_client.get("/api/teams/verify")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "team_id": "acme-corp",
        "organization_id": "org_acme",
        "team_alias": "",
        "status": "active",
        "key_id": str(issued_team_key.key.key_id),
        "key_name": "default",
    }


def test_verify_costs_one_query_when_last_used_is_fresh(
    team_client, issued_team_key, django_assert_num_queries
):
    VirtualKey.objects.filter(pk=issued_team_key.key.pk).update(
        last_used_at=timezone.now()
    )
    with django_assert_num_queries(1):
        response = team_client.get("/api/teams/verify")
    assert response.status_code == HTTPStatus.OK


def test_verify_records_last_use(team_client, issued_team_key):
    team_client.get("/api/teams/verify")
    issued_team_key.key.refresh_from_db()
    assert issued_team_key.key.last_used_at is not None


def test_verify_refuses_the_admin_key(admin_client_api):
    response = admin_client_api.get("/api/teams/verify")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing API key",
        "code": "invalid_api_key",
        "request_id": response["X-Request-Id"],
    }


def test_verify_works_for_a_suspended_team(team_client, team, admin_client_api):
    admin_client_api.put("/api/teams/acme-corp/suspend")
    assert team_client.get("/api/teams/verify").json()["status"] == "suspended"
