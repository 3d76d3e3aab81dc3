"""Bad input is a 4xx with a clear detail, never a 500, and writes nothing."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog, ModelAlias, Organization, VirtualKey

pytestmark = pytest.mark.django_db

POST_ENDPOINTS = [
    "/api/organizations/create",
    "/api/models/create",
    "/api/model-access-groups/create",
    "/api/provider-credentials/create",
    "/api/teams/acme-corp/keys",
]


@pytest.mark.parametrize("url", POST_ENDPOINTS)
def test_malformed_json_is_a_400_with_a_detail(admin_client_api, team, url):
    response = admin_client_api.post(
        url, data="{not json", content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("Malformed request body")


@pytest.mark.parametrize("url", POST_ENDPOINTS)
def test_a_json_list_instead_of_an_object_is_a_400(admin_client_api, team, url):
    response = admin_client_api.post(url, data=[1, 2], format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "errors" in response.json()


@pytest.mark.parametrize(
    ("url", "missing"),
    [
        ("/api/organizations/create", {"organization_id", "name"}),
        ("/api/models/create", {"model_alias", "provider", "actual_model"}),
        ("/api/model-access-groups/create", {"group_name"}),
        (
            "/api/provider-credentials/create",
            {"provider", "credential_name", "api_key"},
        ),
    ],
)
def test_missing_fields_are_named(admin_client_api, db, url, missing):
    response = admin_client_api.post(url, {}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == missing


def test_wrong_types_are_a_400(admin_client_api, db):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": ["a"], "name": {"x": 1}, "metadata": "text"},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {"organization_id", "name", "metadata"}


@pytest.mark.parametrize("field", ["organization_id", "name"])
def test_over_long_strings_are_a_400(admin_client_api, db, field):
    body = {"organization_id": "org", "name": "Org", field: "x" * 300}
    response = admin_client_api.post("/api/organizations/create", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Organization.objects.exists()


def test_an_over_long_id_in_the_url_is_404(admin_client_api, db):
    response = admin_client_api.get("/api/organizations/" + "x" * 5000)
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_failed_request_leaves_no_audit_entry(admin_client_api, team):
    before = AuditLog.objects.count()
    admin_client_api.post(
        "/api/models/create",
        {"model_alias": "m", "provider": "openai", "actual_model": "openai/x",
         "access_groups": ["missing"]},
        format="json",
    )  # fmt: skip
    admin_client_api.post(
        "/api/teams/acme-corp/keys",
        {"expires_at": "1999-01-01T00:00:00Z"},
        format="json",
    )
    assert AuditLog.objects.count() == before
    assert not ModelAlias.objects.exists()
    assert VirtualKey.objects.count() == 1


def test_unknown_paths_under_api_are_json_404(admin_client_api, db):
    response = admin_client_api.get("/api/organizations/x/unknown")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Not found"


@pytest.mark.parametrize(
    "url",
    [
        "/api/organizations/a%00b",
        "/api/organizations/a%00b/teams",
        "/api/models/a%00b",
        "/api/model-access-groups/a%00b",
        "/api/provider-credentials/a%00b",
        "/api/teams/a%00b/keys",
    ],
)
def test_a_nul_byte_in_a_path_id_is_404(admin_client_api, db, url):
    assert admin_client_api.get(url).status_code == HTTPStatus.NOT_FOUND


def test_a_nul_byte_in_a_team_action_path_is_404(admin_client_api, db):
    response = admin_client_api.put("/api/teams/a%00b/suspend")
    assert response.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    "metadata", [{"a": "b\u0000"}, {"a\u0000": 1}, {"a": ["x", {"b": "\u0000"}]}]
)
def test_a_nul_character_in_metadata_is_a_400(admin_client_api, db, metadata):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "x", "name": "n", "metadata": metadata},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "metadata" in response.json()["errors"]


def test_over_large_metadata_is_a_400(admin_client_api, db):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "x", "name": "n", "metadata": {"a": "x" * 20_000}},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Organization.objects.exists()


def test_a_nul_character_in_a_string_field_is_a_400(admin_client_api, db):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "x", "name": "a\u0000b"},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
