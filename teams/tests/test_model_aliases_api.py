from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog, ModelAlias
from teams.services import provider_credential_create
from teams.tests.factories import ModelAccessGroupFactory, ModelAliasFactory

pytestmark = pytest.mark.django_db

ALIAS = {
    "model_alias": "chat-smart",
    "display_name": "Smart chat",
    "provider": "openai",
    "actual_model": "openai/gpt-4o",
    "access_groups": ["gpt-models"],
    "pricing_input": "2.50",
    "pricing_output": "10",
}


def create(client, **overrides):
    return client.post("/api/models/create", {**ALIAS, **overrides}, format="json")


def test_an_operator_creates_an_alias(admin_client_api, gpt_group):
    response = create(admin_client_api, mock_response="hi", max_output_tokens=256)
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["access_groups"] == ["gpt-models"]
    assert body["pricing_input"] == "2.500000"
    assert (body["mock_response"], body["max_output_tokens"]) == ("hi", 256)
    assert AuditLog.objects.filter(action="model_alias.create").exists()


def test_a_duplicate_alias_is_a_conflict(admin_client_api, gpt_group):
    create(admin_client_api)
    assert create(admin_client_api).status_code == HTTPStatus.CONFLICT


def test_an_unknown_access_group_is_404(admin_client_api, db):
    response = create(admin_client_api, access_groups=["missing"])
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"pricing_input": "-1"},
        {"pricing_output": "abc"},
        {"pricing_input": "NaN"},
        {"actual_model": ""},
        {"actual_model": "gpt 4"},
        {"actual_model": 4},
        {"model_alias": "x" * 101},
        {"model_alias": "create"},
        {"max_output_tokens": 0},
        {"fallbacks": "chat-fast"},
        {"api_base": "not a url"},
    ],
)
def test_invalid_alias_fields_are_a_400(admin_client_api, gpt_group, overrides):
    response = create(admin_client_api, **overrides)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"]
    assert not ModelAlias.objects.filter(model_alias="chat-smart").exists()


def test_fallbacks_must_name_existing_aliases(admin_client_api, gpt_group):
    response = create(admin_client_api, fallbacks=["chat-fast", "missing"])
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert create(admin_client_api, fallbacks=["chat-fast"]).status_code == 201


def test_an_alias_cannot_be_its_own_fallback(admin_client_api, gpt_group):
    create(admin_client_api)
    response = admin_client_api.put(
        "/api/models/chat-smart", {"fallbacks": ["chat-smart"]}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_credential_can_be_named_by_id_or_name(admin_client_api, db):
    credential = provider_credential_create(
        actor="t", provider="openai", credential_name="main", api_key="sk-secret"
    )
    by_name = create(admin_client_api, access_groups=[], credential="main")
    by_id = create(
        admin_client_api,
        model_alias="other",
        access_groups=[],
        credential=str(credential.credential_id),
    )
    assert by_name.json()["credential_id"] == str(credential.credential_id)
    assert by_id.json()["credential"] == "main"


def test_an_unknown_credential_is_404(admin_client_api, db):
    response = create(admin_client_api, access_groups=[], credential="missing")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_an_alias_is_updated_partially(admin_client_api, gpt_group):
    create(admin_client_api)
    response = admin_client_api.put(
        "/api/models/chat-smart",
        {"display_name": "Renamed", "access_groups": [], "pricing_input": None},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert (body["display_name"], body["access_groups"]) == ("Renamed", [])
    assert body["pricing_input"] is None
    assert body["actual_model"] == "openai/gpt-4o"


def test_an_alias_is_fetched_and_deleted(admin_client_api, gpt_group):
    assert admin_client_api.get("/api/models/chat-fast").json()["provider"] == "openai"
    response = admin_client_api.delete("/api/models/chat-fast")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert admin_client_api.get("/api/models/chat-fast").status_code == 404


def test_an_alias_used_as_a_fallback_cannot_be_deleted(admin_client_api, db):
    ModelAliasFactory(model_alias="backup")
    ModelAliasFactory(model_alias="main", fallbacks=["backup"])
    response = admin_client_api.delete("/api/models/backup")
    assert response.status_code == HTTPStatus.CONFLICT
    assert ModelAlias.objects.filter(model_alias="backup").exists()


def test_an_unknown_alias_is_404(admin_client_api, db):
    assert admin_client_api.get("/api/models/nope").status_code == 404
    assert (
        admin_client_api.put("/api/models/nope", {}, format="json").status_code == 404
    )
    assert admin_client_api.delete("/api/models/nope").status_code == 404


def test_the_operator_lists_every_alias_with_its_details(admin_client_api, db):
    group = ModelAccessGroupFactory()
    ModelAliasFactory(model_alias="a", access_groups=[group])
    ModelAliasFactory(model_alias="b", is_active=False)
    body = admin_client_api.get("/api/models").json()
    assert [a["model_alias"] for a in body] == ["a", "b"]
    assert body[0]["actual_model"] == "openai/gpt-4o-mini"


def test_a_team_key_cannot_create_aliases(team_client, gpt_group):
    response = create(team_client)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {
        "detail": "Invalid or missing admin key",
        "code": "invalid_admin_key",
        "request_id": response["X-Request-Id"],
    }
