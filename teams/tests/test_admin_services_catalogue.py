"""The dashboard saves and deletes aliases, access groups and provider credentials
through the API's services: it refuses what the API refuses, and nothing else."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from teams.models import AuditLog, ModelAccessGroup, ModelAlias, ProviderCredential
from teams.services import (
    model_access_group_create,
    model_alias_create,
    provider_credential_create,
)

pytestmark = pytest.mark.django_db


def alias(name: str, **fields) -> ModelAlias:
    return model_alias_create(
        actor="tests",
        model_alias=name,
        provider="openai",
        actual_model="openai/gpt-4o-mini",
        **fields,
    )


def alias_form(name: str, **fields) -> dict:
    return {"model_alias": name, "provider": "openai",
            "actual_model": "openai/gpt-4o-mini", "fallbacks": "[]",
            "is_active": "on", "weight": "1", "routing_strategy": "weighted",
            # The further deployments' inline, empty, as a browser sends it.
            "deployments-TOTAL_FORMS": "0", "deployments-INITIAL_FORMS": "0",
            **fields}  # fmt: skip


def delete(client, obj):
    url = reverse(f"admin:teams_{obj._meta.model_name}_delete", args=[obj.pk])
    return client.post(url, {"post": "yes"}, follow=True)


def errors(response) -> list[str]:
    messages = get_messages(response.wsgi_request)
    return [m.message for m in messages if m.level_tag == "error"]


def test_an_alias_named_as_a_fallback_is_not_deleted_and_the_admin_says_why(
    superuser_client,
):
    backup = alias("backup")
    alias("main", fallbacks=["backup"])
    response = delete(superuser_client, backup)
    assert errors(response) == ["Model alias 'backup' is a fallback of: main"]
    assert ModelAlias.objects.filter(model_alias="backup").exists()
    assert not AuditLog.objects.filter(action="model_alias.delete").exists()


def test_an_unused_alias_is_deleted_through_the_service(superuser_client):
    response = delete(superuser_client, alias("spare"))
    assert errors(response) == []
    assert not ModelAlias.objects.exists()
    entry = AuditLog.objects.get(action="model_alias.delete")
    assert entry.actor == "admin:operator"


def test_a_bulk_delete_with_one_refused_alias_deletes_none(superuser_client):
    backup, spare = alias("backup"), alias("spare")
    alias("main", fallbacks=["backup"])
    response = superuser_client.post(
        reverse("admin:teams_modelalias_changelist"),
        {"action": "delete_selected", "post": "yes",
         "_selected_action": [backup.pk, spare.pk]},
        follow=True,
    )  # fmt: skip
    assert errors(response) == ["Model alias 'backup' is a fallback of: main"]
    assert ModelAlias.objects.count() == 3


def test_an_alias_saved_in_the_admin_goes_through_the_service(superuser_client):
    alias("backup")
    response = superuser_client.post(
        reverse("admin:teams_modelalias_add"),
        alias_form("main", fallbacks='["backup"]'),
    )
    assert response.status_code == HTTPStatus.FOUND
    entry = AuditLog.objects.get(action="model_alias.create", actor="admin:operator")
    assert entry.after["fallbacks"] == ["backup"]


def test_a_fallback_the_service_refuses_is_a_form_error_and_saves_nothing(
    superuser_client,
):
    response = superuser_client.post(
        reverse("admin:teams_modelalias_add"), alias_form("main", fallbacks='["main"]')
    )
    assert response.status_code == HTTPStatus.OK
    assert "A model alias cannot be its own fallback" in response.content.decode()
    assert not ModelAlias.objects.exists()


def test_an_alias_cannot_be_renamed_in_the_admin(superuser_client):
    main = alias("main")
    url = reverse("admin:teams_modelalias_change", args=[main.pk])
    superuser_client.post(url, alias_form("renamed", display_name="Main"))
    main.refresh_from_db()
    assert (main.model_alias, main.display_name) == ("main", "Main")
    entry = AuditLog.objects.get(action="model_alias.update")
    assert entry.before["fallbacks"] == entry.after["fallbacks"] == []


def test_an_access_group_in_use_is_not_deleted_and_the_admin_says_why(
    superuser_client, team_with_groups, gpt_group
):
    response = delete(superuser_client, gpt_group)
    assert errors(response) == [
        "Access group 'gpt-models' is used by team(s): with-groups"
    ]
    assert ModelAccessGroup.objects.filter(pk=gpt_group.pk).exists()


def test_an_access_group_is_created_and_updated_through_the_service(
    superuser_client,
):
    superuser_client.post(
        reverse("admin:teams_modelaccessgroup_add"), {"group_name": "paused"}
    )
    group = ModelAccessGroup.objects.get(group_name="paused")
    assert group.is_active is False  # an unticked box, as the form sent it
    url = reverse("admin:teams_modelaccessgroup_change", args=[group.pk])
    superuser_client.post(url, {"display_name": "Paused", "is_active": "on"})
    entry = AuditLog.objects.get(action="access_group.update")
    assert (entry.before["is_active"], entry.after["is_active"]) == (False, True)


def test_a_credential_an_alias_uses_is_not_deleted_in_the_admin(superuser_client):
    credential = provider_credential_create(
        actor="tests", provider="openai", credential_name="main", api_key="sk-x"
    )
    alias("main", credential="main")
    delete(superuser_client, credential)
    assert ProviderCredential.objects.filter(pk=credential.pk).exists()
    assert not AuditLog.objects.filter(action="provider_credential.delete").exists()


def test_an_unused_access_group_and_credential_are_deleted_in_the_admin(
    superuser_client,
):
    group = model_access_group_create(actor="tests", group_name="spare")
    credential = provider_credential_create(
        actor="tests", provider="openai", credential_name="spare", api_key="sk-x"
    )
    delete(superuser_client, group)
    delete(superuser_client, credential)
    assert not ModelAccessGroup.objects.exists()
    assert not ProviderCredential.objects.exists()
