from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import ModelAccessGroup
from teams.tests.factories import ModelAliasFactory

pytestmark = pytest.mark.django_db


def test_an_operator_creates_a_group_with_aliases(admin_client_api, db):
    ModelAliasFactory(model_alias="fast")
    response = admin_client_api.post(
        "/api/model-access-groups/create",
        {"group_name": "basic", "display_name": "Basic", "model_aliases": ["fast"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["model_aliases"] == ["fast"]


def test_a_duplicate_group_is_a_conflict(admin_client_api, gpt_group):
    response = admin_client_api.post(
        "/api/model-access-groups/create", {"group_name": "gpt-models"}, format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT


def test_a_group_with_an_unknown_alias_is_404(admin_client_api, db):
    response = admin_client_api.post(
        "/api/model-access-groups/create",
        {"group_name": "basic", "model_aliases": ["missing"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not ModelAccessGroup.objects.exists()


def test_groups_are_listed_fetched_and_updated(admin_client_api, gpt_group):
    assert [g["group_name"] for g in admin_client_api.get(
        "/api/model-access-groups"
    ).json()] == ["gpt-models"]  # fmt: skip
    response = admin_client_api.put(
        "/api/model-access-groups/gpt-models",
        {"display_name": "GPT", "is_active": False},
        format="json",
    )
    assert response.json()["display_name"] == "GPT"
    fetched = admin_client_api.get("/api/model-access-groups/gpt-models").json()
    assert (fetched["is_active"], fetched["model_aliases"]) == (False, ["chat-fast"])


def test_a_groups_models_are_replaced(admin_client_api, gpt_group):
    ModelAliasFactory(model_alias="other")
    response = admin_client_api.put(
        "/api/model-access-groups/gpt-models/models",
        {"model_aliases": ["other"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json()["model_aliases"] == ["other"]


def test_replacing_models_with_an_unknown_alias_changes_nothing(
    admin_client_api, gpt_group
):
    response = admin_client_api.put(
        "/api/model-access-groups/gpt-models/models",
        {"model_aliases": ["chat-fast", "missing"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert [a.model_alias for a in gpt_group.model_aliases.all()] == ["chat-fast"]


def test_an_unused_group_is_deleted(admin_client_api, gpt_group):
    response = admin_client_api.delete("/api/model-access-groups/gpt-models")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not ModelAccessGroup.objects.exists()


def test_a_group_in_use_cannot_be_deleted(admin_client_api, team_with_groups):
    response = admin_client_api.delete("/api/model-access-groups/gpt-models")
    assert response.status_code == HTTPStatus.CONFLICT
    assert "with-groups" in response.json()["detail"]
    assert ModelAccessGroup.objects.filter(group_name="gpt-models").exists()


def test_an_unknown_group_is_404(admin_client_api, db):
    assert admin_client_api.get("/api/model-access-groups/nope").status_code == 404
    response = admin_client_api.put(
        "/api/model-access-groups/nope/models", {"model_aliases": []}, format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_team_key_cannot_manage_groups(team_client):
    response = team_client.post(
        "/api/model-access-groups/create", {"group_name": "x"}, format="json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
