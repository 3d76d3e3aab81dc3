"""A team key sent as `x-api-key` (Anthropic's SDKs, Claude Code) authenticates as a
Bearer token does, through the same class and the same refusals."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def verify(**headers: str):
    return APIClient().get("/api/teams/verify", headers=headers)


def test_a_team_key_in_x_api_key_authenticates(team_key, team):
    response = verify(**{"x-api-key": team_key})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["team_id"] == team.team_id


def test_a_wrong_x_api_key_is_the_same_401(team):
    response = verify(**{"x-api-key": "sk-" + "0" * 32})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "invalid_api_key"


def test_a_bad_authorization_header_is_refused_whatever_x_api_key_says(team_key):
    response = verify(**{"Authorization": "Basic abc", "x-api-key": team_key})
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_an_x_api_key_caller_is_never_the_loopback_operator(settings, team):
    settings.ADMIN_LOOPBACK_TRUST = True
    response = APIClient().get(
        "/api/organizations", headers={"x-api-key": "sk-" + "0" * 32}
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
