"""Organizations in the dashboard: saved and deleted through teams.services."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from saas_litellm.exceptions import Conflict
from teams.models import AuditLog, Organization
from teams.services import organization_delete

pytestmark = pytest.mark.django_db


def test_an_organization_added_in_the_admin_is_created_by_the_service(
    superuser_client,
):
    response = superuser_client.post(
        reverse("admin:teams_organization_add"),
        {"organization_id": "org_new", "name": "New", "metadata": "{}"},
    )
    assert response.status_code == HTTPStatus.FOUND
    entry = AuditLog.objects.get(action="organization.create")
    assert (entry.actor, entry.object_id) == ("admin:operator", "org_new")


def test_renaming_an_organization_in_the_admin_is_audit_logged(
    superuser_client, organization
):
    url = reverse("admin:teams_organization_change", args=[organization.pk])
    superuser_client.post(url, {"name": "ACME Inc", "metadata": "{}"})
    entry = AuditLog.objects.get(action="organization.update")
    assert (entry.before["name"], entry.after["name"]) == ("ACME", "ACME Inc")


def test_an_organization_with_teams_cannot_be_deleted(team):
    with pytest.raises(Conflict) as refused:
        organization_delete(organization=team.organization, actor="tests")
    assert refused.value.code == "organization_in_use"
    assert "acme-corp" in refused.value.detail


def test_an_empty_organization_is_deleted_in_the_admin(superuser_client, organization):
    url = reverse("admin:teams_organization_delete", args=[organization.pk])
    superuser_client.post(url, {"post": "yes"})
    assert not Organization.objects.exists()
    assert AuditLog.objects.filter(
        action="organization.delete", actor="admin:operator"
    ).exists()
