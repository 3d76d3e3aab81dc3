"""The operator dashboard: keys shown once on a dedicated page, never elsewhere."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from teams.keys import credential_decrypt
from teams.models import AuditLog, ProviderCredential, Team, VirtualKey
from teams.tests.factories import ModelAccessGroupFactory

pytestmark = pytest.mark.django_db

KEY_IN_PAGE = re.compile(r"sk-[0-9a-f]{32}")
PROVIDER_SECRET = "prov-admin-secret-9876543210"


def works(plaintext: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client.get("/api/teams/verify").status_code == HTTPStatus.OK


def shown_keys(response) -> list[str]:
    return KEY_IN_PAGE.findall(response.content.decode())


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def add_team(client, organization, **extra):
    return client.post(
        reverse("admin:teams_team_add"),
        {"organization": organization.pk, "team_id": "from-admin",
         "team_alias": "Admin team", **extra},
    )  # fmt: skip


def test_adding_a_team_shows_its_key_once_on_a_dedicated_page(
    superuser_client, organization
):
    group = ModelAccessGroupFactory()
    response = add_team(superuser_client, organization, access_groups=[group.pk])
    assert response.status_code == HTTPStatus.OK
    assert "admin/teams/key_shown_once.html" in [t.name for t in response.templates]
    assert "will not be shown again" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    [plaintext] = set(shown_keys(response))
    assert works(plaintext)
    team = Team.objects.get(team_id="from-admin")
    assert list(team.access_groups.all()) == [group]
    assert AuditLog.objects.filter(
        action="team.create", actor="admin:operator"
    ).exists()


def test_the_new_key_is_not_in_messages_or_later_pages(superuser_client, organization):
    response = add_team(superuser_client, organization)
    [plaintext] = set(shown_keys(response))
    assert not any(plaintext in text for text in message_texts(response))
    team = Team.objects.get(team_id="from-admin")
    for url in (
        reverse("admin:teams_team_change", args=[team.pk]),
        reverse("admin:teams_team_changelist"),
        reverse("admin:teams_virtualkey_changelist"),
        reverse("admin:teams_virtualkey_change", args=[team.keys.get().pk]),
        reverse("admin:teams_auditlog_changelist"),
        reverse("admin:index"),
    ):
        page = superuser_client.get(url)
        assert page.status_code == HTTPStatus.OK, url
        assert shown_keys(page) == [], url


def test_a_duplicate_team_id_is_a_form_error(superuser_client, team):
    response = add_team(superuser_client, team.organization, team_id="acme-corp")
    assert response.status_code == HTTPStatus.OK
    assert shown_keys(response) == []
    assert Team.objects.filter(team_id="acme-corp").count() == 1


def test_the_team_page_shows_the_credit_balance(superuser_client, team):
    page = superuser_client.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert "100 remaining" in page.content.decode()


def test_team_actions_change_status_through_services(superuser_client, team):
    response = superuser_client.post(
        reverse("admin:teams_team_changelist"),
        {"action": "suspend_teams", "_selected_action": [team.pk]},
        follow=True,
    )
    assert response.status_code == HTTPStatus.OK
    assert Team.objects.get(pk=team.pk).status == "suspended"
    assert AuditLog.objects.filter(
        action="team.status.suspended", actor="admin:operator"
    ).exists()


def test_adding_a_key_shows_it_once(superuser_client, team):
    response = superuser_client.post(
        reverse("admin:teams_virtualkey_add"), {"team": team.pk, "name": "dash"}
    )
    [plaintext] = set(shown_keys(response))
    assert works(plaintext)
    key_id = str(VirtualKey.objects.get(team=team, name="dash").key_id)
    assert key_id in response.content.decode()


def test_rotating_from_the_dashboard_shows_the_new_key_once(
    superuser_client, issued_team_key
):
    response = superuser_client.post(
        reverse("admin:teams_virtualkey_changelist"),
        {"action": "rotate_keys", "_selected_action": [issued_team_key.key.pk]},
    )
    [plaintext] = set(shown_keys(response))
    assert plaintext != issued_team_key.plaintext
    assert works(plaintext)
    assert works(issued_team_key.plaintext)  # 24 h grace
    issued_team_key.key.refresh_from_db()
    assert issued_team_key.key.expires_at is not None


def test_rotating_a_revoked_key_shows_an_error_and_no_key(
    superuser_client, issued_team_key
):
    changelist = reverse("admin:teams_virtualkey_changelist")
    superuser_client.post(
        changelist,
        {"action": "revoke_keys", "_selected_action": [issued_team_key.key.pk]},
    )
    assert not works(issued_team_key.plaintext)
    response = superuser_client.post(
        changelist,
        {"action": "rotate_keys", "_selected_action": [issued_team_key.key.pk]},
        follow=True,
    )
    assert shown_keys(response) == []
    assert any("revoked or expired" in text for text in message_texts(response))


def test_keys_cannot_be_edited_or_deleted_in_the_dashboard(
    superuser_client, issued_team_key
):
    url = reverse("admin:teams_virtualkey_change", args=[issued_team_key.key.pk])
    page = superuser_client.get(url)
    assert 'name="_save"' not in page.content.decode()
    delete = reverse("admin:teams_virtualkey_delete", args=[issued_team_key.key.pk])
    assert superuser_client.get(delete).status_code == HTTPStatus.FORBIDDEN


def test_a_provider_key_is_write_only_in_the_dashboard(superuser_client, db):
    superuser_client.post(
        reverse("admin:teams_providercredential_add"),
        {"credential_name": "dash", "provider": "openai", "api_key": PROVIDER_SECRET,
         "is_active": "on"},
    )  # fmt: skip
    credential = ProviderCredential.objects.get()
    url = reverse("admin:teams_providercredential_change", args=[credential.pk])
    page = superuser_client.get(url).content.decode()
    assert PROVIDER_SECRET not in page
    assert credential.encrypted_api_key not in page
    superuser_client.post(
        url, {"credential_name": "dash", "provider": "azure", "api_key": ""}
    )
    credential.refresh_from_db()
    assert credential.provider == "azure"
    assert credential_decrypt(credential.encrypted_api_key) == PROVIDER_SECRET


def test_a_new_provider_credential_needs_a_key(superuser_client, db):
    response = superuser_client.post(
        reverse("admin:teams_providercredential_add"),
        {"credential_name": "dash", "provider": "openai", "api_key": ""},
    )
    assert response.status_code == HTTPStatus.OK
    assert not ProviderCredential.objects.exists()


@pytest.mark.parametrize(
    "model",
    ["organization", "team", "virtualkey", "modelaccessgroup", "modelalias",
     "providercredential", "auditlog"],
)  # fmt: skip
def test_every_teams_model_has_a_dashboard_page(superuser_client, team, model):
    response = superuser_client.get(reverse(f"admin:teams_{model}_changelist"))
    assert response.status_code == HTTPStatus.OK


def test_the_audit_log_is_read_only(superuser_client, team):
    entry = AuditLog.objects.first()
    assert superuser_client.get(reverse("admin:teams_auditlog_add")).status_code == 403
    delete = reverse("admin:teams_auditlog_delete", args=[entry.pk])
    assert superuser_client.get(delete).status_code == HTTPStatus.FORBIDDEN


def test_the_dashboard_needs_a_staff_login(client, db):
    response = client.get(reverse("admin:teams_team_changelist"))
    assert response.status_code == HTTPStatus.FOUND
