from __future__ import annotations

from http import HTTPStatus


def test_health_answers_without_auth(anonymous_client):
    response = anonymous_client.get("/health")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "healthy"}


def test_ready_answers_when_the_database_does(db, anonymous_client):
    assert anonymous_client.get("/ready").json() == {"status": "ready"}


def test_team_fixture_has_funded_account(team):
    assert team.credit_account.credits_remaining == 100
