from __future__ import annotations

import uuid
from http import HTTPStatus

import pytest

from credits.services import credit_reserve

pytestmark = pytest.mark.django_db

FIELDS = {
    "team_id",
    "credits_allocated",
    "credits_used",
    "credits_reserved",
    "credits_remaining",
    "budget_mode",
}


def test_a_team_key_reads_its_own_balance_by_query(team_client, team):
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=30)
    response = team_client.get("/api/credits/balance", {"team_id": "acme-corp"})
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "team_id": "acme-corp",
        "credits_allocated": 100,
        "credits_used": 0,
        "credits_reserved": 30,
        "credits_remaining": 70,
        "budget_mode": "job_based",
    }


def test_a_team_key_reads_its_own_balance_by_path(team_client):
    response = team_client.get("/api/credits/teams/acme-corp/balance")
    assert response.status_code == HTTPStatus.OK
    assert set(response.json()) == FIELDS


@pytest.mark.parametrize(
    "url",
    ["/api/credits/balance?team_id=globex", "/api/credits/teams/globex/balance"],
)
def test_another_teams_balance_is_forbidden_to_a_team_key(team_client, other_team, url):
    response = team_client.get(url)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["detail"] == "API key does not belong to team 'globex'"


def test_the_operator_reads_any_teams_balance(admin_client_api, other_team):
    response = admin_client_api.get("/api/credits/balance", {"team_id": "globex"})
    assert response.json()["credits_remaining"] == 100


def test_an_unknown_team_is_404_for_the_operator(admin_client_api):
    response = admin_client_api.get("/api/credits/teams/nobody/balance")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Team 'nobody' not found"


def test_the_balance_query_without_team_id_is_400(team_client):
    response = team_client.get("/api/credits/balance")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "team_id" in response.json()["detail"]


def test_the_balance_without_a_key_is_401(anonymous_client, team):
    response = anonymous_client.get("/api/credits/balance", {"team_id": "acme-corp"})
    assert response.status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("team_id", ["bad%00id", "has%20space", "x" * 101])
def test_a_path_id_that_cannot_be_a_team_is_404(admin_client_api, team_id):
    response = admin_client_api.get(f"/api/credits/teams/{team_id}/balance")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_nul_byte_in_the_balance_query_is_400(admin_client_api):
    response = admin_client_api.get("/api/credits/balance?team_id=a%00b")
    assert response.status_code == HTTPStatus.BAD_REQUEST
