from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from teams.tests.factories import ModelAccessGroupFactory, ModelAliasFactory

pytestmark = pytest.mark.django_db


def client_for(issued) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


@pytest.fixture
def catalogue(db):
    granted = ModelAccessGroupFactory(group_name="granted")
    inactive = ModelAccessGroupFactory(group_name="inactive", is_active=False)
    other = ModelAccessGroupFactory(group_name="other")
    ModelAliasFactory(model_alias="visible", access_groups=[granted, other])
    ModelAliasFactory(
        model_alias="switched-off", access_groups=[granted], is_active=False
    )
    ModelAliasFactory(model_alias="in-inactive-group", access_groups=[inactive])
    ModelAliasFactory(model_alias="not-granted", access_groups=[other])
    return [granted, inactive]


def test_a_team_sees_only_the_active_aliases_it_may_use(issue_team, catalogue):
    issued = issue_team("limited", access_groups=catalogue)
    response = client_for(issued).get("/api/models")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == [
        {
            "model_alias": "visible",
            "name": "visible",
            "display_name": "VISIBLE",
            "description": "A test model",
        }
    ]


def test_a_team_never_sees_providers_models_or_prices(issue_team, catalogue):
    issued = issue_team("limited", access_groups=catalogue)
    text = client_for(issued).get("/api/models").content.decode()
    for secret in ("openai", "gpt-4o-mini", "pricing", "mock"):
        assert secret not in text


def test_a_team_without_groups_sees_no_models(team_client, catalogue):
    assert team_client.get("/api/models").json() == []


def test_the_model_list_needs_a_key(db):
    response = APIClient().get("/api/models")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Bearer"
