from __future__ import annotations

import re
from http import HTTPStatus

from jobs.models import Job
from jobs.tests.conftest import account, ledger_snapshot
from teams.models import TeamStatus


def create(client, team_id="acme-corp", **extra):
    body = {"team_id": team_id, "job_type": "document_analysis", **extra}
    return client.post("/api/jobs/create", body, format="json")


def test_the_guides_job_create_answers_201_pending_with_a_utc_timestamp(team_client):
    response = create(team_client)
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert set(body) == {"job_id", "status", "created_at"}
    assert body["status"] == "pending"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", body["created_at"])


def test_creating_a_job_reserves_the_minimum_charge(team_client, team):
    create(team_client)
    assert account(team).credits_reserved == 1
    assert account(team).credits_used == 0


def test_a_request_without_a_key_is_401(anonymous_client, team):
    response = create(anonymous_client)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing API key",
        "code": "invalid_api_key",
        "request_id": response["X-Request-Id"],
    }


def test_another_teams_id_in_the_body_is_403(team_client, other_team):
    response = create(team_client, team_id="globex")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["detail"] == "API key does not belong to team 'globex'"


def test_a_team_without_credits_cannot_create_a_job(team_client, team):
    for _ in range(account(team).credits_remaining):
        assert create(team_client).status_code == HTTPStatus.CREATED
    before = ledger_snapshot(team)
    response = create(team_client)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {
        "detail": "Team suspended or insufficient credits",
        "code": "insufficient_credits",
        "request_id": response["X-Request-Id"],
    }
    assert ledger_snapshot(team) == before
    assert Job.objects.count() == 100


def test_a_suspended_team_cannot_create_a_job(team_client, team):
    team.status = TeamStatus.SUSPENDED
    team.save()
    response = create(team_client)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "team_suspended"


def test_a_paused_team_cannot_create_a_job(team_client, team):
    team.status = TeamStatus.PAUSED
    team.save()
    assert create(team_client).json()["code"] == "team_paused"


def test_a_job_without_a_type_is_a_400_with_field_errors(team_client):
    response = team_client.post(
        "/api/jobs/create", {"team_id": "acme-corp"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "job_type" in response.json()["errors"]


def test_a_malformed_body_is_a_400(team_client):
    response = team_client.post(
        "/api/jobs/create", "{not json", content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_metadata_must_be_an_object(team_client):
    response = create(team_client, metadata=["a"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
