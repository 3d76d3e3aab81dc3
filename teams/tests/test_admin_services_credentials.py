"""A provider credential a model alias uses cannot be deleted: 409 credential_in_use,
from the service that the API and the dashboard both call."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from saas_litellm.exceptions import Conflict
from teams.models import ProviderCredential
from teams.services import (
    model_alias_create,
    provider_credential_create,
    provider_credential_delete,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def used_credential(db) -> ProviderCredential:
    credential = provider_credential_create(
        actor="tests", provider="openai", credential_name="main", api_key="sk-x"
    )
    model_alias_create(
        actor="tests",
        model_alias="chat",
        provider="openai",
        actual_model="openai/gpt-4o-mini",
        credential="main",
    )
    return credential


def test_the_service_refuses_to_delete_a_credential_in_use(used_credential):
    with pytest.raises(Conflict) as refused:
        provider_credential_delete(credential=used_credential, actor="tests")
    assert refused.value.code == "credential_in_use"
    assert refused.value.detail == (
        "Provider credential 'main' is used by model alias(es): chat"
    )


def test_the_api_answers_409_credential_in_use(admin_client_api, used_credential):
    url = f"/api/provider-credentials/{used_credential.credential_id}"
    response = admin_client_api.delete(url)
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "credential_in_use"
    assert ProviderCredential.objects.exists()
