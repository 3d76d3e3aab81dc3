from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.keys import credential_decrypt
from teams.models import ProviderCredential
from teams.tests.factories import ModelAliasFactory

pytestmark = pytest.mark.django_db

PROVIDER_SECRET = "sk-provider-very-secret-0123456789"


def create(client, **overrides):
    body = {
        "provider": "openai",
        "credential_name": "openai-main",
        "api_key": PROVIDER_SECRET,
        **overrides,
    }
    return client.post("/api/provider-credentials/create", body, format="json")


def test_a_credential_is_stored_encrypted_and_never_returned(admin_client_api, db):
    response = create(admin_client_api, api_base="http://127.0.0.1:9999/v1")
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert set(body) == {
        "credential_id", "organization_id", "provider", "credential_name",
        "api_base", "is_active", "has_api_key",
    }  # fmt: skip
    assert (body["has_api_key"], body["organization_id"]) == (True, None)
    stored = ProviderCredential.objects.get()
    assert PROVIDER_SECRET not in stored.encrypted_api_key
    assert credential_decrypt(stored.encrypted_api_key) == PROVIDER_SECRET


def test_no_credential_endpoint_returns_the_secret(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    base = f"/api/provider-credentials/{credential_id}"
    responses = [
        admin_client_api.get("/api/provider-credentials"),
        admin_client_api.get(base),
        admin_client_api.put(base, {"api_base": "http://x.example"}, format="json"),
        admin_client_api.post(f"{base}/deactivate"),
        admin_client_api.post(f"{base}/activate"),
    ]
    for response in responses:
        assert response.status_code == HTTPStatus.OK
        assert PROVIDER_SECRET not in response.content.decode()


def test_a_credential_can_belong_to_an_organization(admin_client_api, organization):
    response = create(admin_client_api, organization_id="org_acme")
    assert response.json()["organization_id"] == "org_acme"


def test_an_unknown_organization_is_404(admin_client_api, db):
    assert create(admin_client_api, organization_id="nope").status_code == 404
    assert not ProviderCredential.objects.exists()


def test_a_duplicate_credential_name_is_a_conflict(admin_client_api, db):
    create(admin_client_api)
    assert create(admin_client_api).status_code == HTTPStatus.CONFLICT


@pytest.mark.parametrize(
    "overrides", [{"api_key": ""}, {"api_key": 5}, {"credential_name": "a b"}]
)
def test_bad_credential_input_is_a_400(admin_client_api, db, overrides):
    response = create(admin_client_api, **overrides)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert PROVIDER_SECRET not in response.content.decode()


def test_an_update_without_api_key_keeps_the_secret(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    admin_client_api.put(
        f"/api/provider-credentials/{credential_id}",
        {"api_key": "", "provider": "azure"},
        format="json",
    )
    stored = ProviderCredential.objects.get()
    assert stored.provider == "azure"
    assert credential_decrypt(stored.encrypted_api_key) == PROVIDER_SECRET


def test_an_update_with_api_key_replaces_the_secret(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    admin_client_api.put(
        f"/api/provider-credentials/{credential_id}",
        {"api_key": "sk-new-secret"},
        format="json",
    )
    stored = ProviderCredential.objects.get()
    assert credential_decrypt(stored.encrypted_api_key) == "sk-new-secret"


def test_deactivate_and_activate(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    url = f"/api/provider-credentials/{credential_id}"
    assert admin_client_api.post(f"{url}/deactivate").json()["is_active"] is False
    assert admin_client_api.post(f"{url}/activate").json()["is_active"] is True


def test_an_unused_credential_is_deleted(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    response = admin_client_api.delete(f"/api/provider-credentials/{credential_id}")
    assert response.status_code == HTTPStatus.NO_CONTENT
    assert not ProviderCredential.objects.exists()


def test_a_credential_used_by_an_alias_cannot_be_deleted(admin_client_api, db):
    credential_id = create(admin_client_api).json()["credential_id"]
    ModelAliasFactory(credential=ProviderCredential.objects.get())
    response = admin_client_api.delete(f"/api/provider-credentials/{credential_id}")
    assert response.status_code == HTTPStatus.CONFLICT
    assert ProviderCredential.objects.exists()


@pytest.mark.parametrize(
    "credential_id", ["not-a-uuid", "0b9d7e3a-2c4f-4e8a-8d1b-5f6a7c8e9d10"]
)
def test_an_unknown_or_malformed_credential_id_is_404(
    admin_client_api, db, credential_id
):
    url = f"/api/provider-credentials/{credential_id}"
    assert admin_client_api.get(url).status_code == HTTPStatus.NOT_FOUND
    assert admin_client_api.post(f"{url}/activate").status_code == 404


def test_a_team_key_cannot_see_credentials(team_client):
    response = team_client.get("/api/provider-credentials")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
