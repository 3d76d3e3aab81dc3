"""The operator's dashboard as the issue list asked: branded "SaaS LiteLLM", the audit
log as its recent actions, no Delete button where deleting is refused (and a refused
delete is a message, never a 500), ids in their own case in messages, and API docs
that load Swagger UI from this server rather than a CDN."""

from __future__ import annotations

import html as html_text
import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from credits.services import credit_add
from jobs.models import CallStatus, Job, LLMCall
from jobs.services import job_create
from jobs.services.checks import DeploymentCheck
from teams.models import AuditLog, Organization, Team, TeamStatus
from teams.services import (
    model_alias_create,
    organization_create,
    team_create,
    virtual_key_revoke,
)

pytestmark = pytest.mark.django_db

BRAND = "SaaS LiteLLM"


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser(
        "operator", "operator@example.com", password=None
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ui_team(organization) -> Team:
    """A team whose id starts with a lowercase letter."""
    issued = team_create(organization=organization, team_id="ui-team", actor="tests")
    credit_add(team=issued.key.team, credits=10, actor="tests")
    return Team.objects.get(team_id="ui-team")


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def text(markup: str) -> str:
    """Markup as the browser shows it: no tags, entities read, spaces collapsed."""
    return " ".join(html_text.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def rendered_messages(html: str) -> list[str]:
    """The texts of the admin's message list, as the browser shows them."""
    listing = re.search(r'<ul class="messagelist">(.*?)</ul>', html, re.S)
    assert listing is not None, "no message list on the page"
    return [
        text(item)
        for item in re.findall(r"<li[^>]*>(.*?)</li>", listing.group(1), re.S)
    ]


# --- 1. Branding -----------------------------------------------------------------


def test_the_admin_home_is_branded_saas_litellm(operator):
    html = page(operator, reverse("admin:index"))
    assert re.search(r"<title>Operator dashboard \| SaaS LiteLLM</title>", html)
    assert re.search(rf'<div id="site-name"><a href="[^"]*">{BRAND}</a></div>', html)
    assert "Django administration" not in html
    assert "Django site admin" not in html
    assert "Site administration" not in html
    # The operator dashboard's own template still renders around it.
    assert "At a glance" in html


def test_the_login_page_is_branded_too(client):
    html = page(client, reverse("admin:login"))
    assert f"<title>Log in | {BRAND}</title>" in html
    assert "Django administration" not in html


# --- 2. Recent actions are the audit log -------------------------------------------


def sidebar(html: str) -> str:
    found = re.search(
        r'<div class="module" id="recent-actions-module">(.*?)</div>', html, re.S
    )
    assert found is not None, "no recent actions box"
    return found.group(1)


def test_recent_actions_show_the_newest_audit_entries_without_their_values(operator):
    for n in range(12):
        AuditLog.objects.create(
            actor=f"actor-{n:02}",
            action="team.update",
            object_type="Team",
            object_id=f"team-{n:02}",
            before={"secret_marker": f"before-value-{n:02}"},
            after={"secret_marker": f"after-value-{n:02}"},
        )
    box = sidebar(page(operator, reverse("admin:index")))
    shown = re.findall(r"actor-(\d\d)", box)
    # The ten newest, newest first; the two oldest are left out.
    assert shown == [f"{n:02}" for n in range(11, 1, -1)]
    assert "team.update" in box
    assert "team.update Team team-11 actor-11," in text(box)
    assert re.search(r"<time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d</time>", box)
    # Neither the before/after values nor their keys reach the page.
    assert "secret_marker" not in box
    assert "value-" not in box
    assert reverse("admin:teams_auditlog_changelist") in box


def test_recent_actions_include_what_the_api_did(operator, admin_client_api):
    response = admin_client_api.post(
        "/api/organizations/create",
        {"organization_id": "org-from-api", "name": "From the API"},
        format="json",
    )
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.CREATED)
    entry = AuditLog.objects.get(object_id="org-from-api")
    box = sidebar(page(operator, reverse("admin:index")))
    assert f"{entry.action} {entry.object_type} org-from-api" in text(box)
    # Django's own "My actions" list (LogEntry) is gone.
    assert "My actions" not in box


def test_an_empty_audit_log_says_so(operator):
    AuditLog.objects.all().delete()
    assert "None available" in sidebar(page(operator, reverse("admin:index")))


def test_staff_who_may_not_read_the_audit_log_do_not_see_it():
    AuditLog.objects.create(
        actor="someone", action="team.create", object_type="Team", object_id="t-1"
    )
    user = get_user_model().objects.create_user("clerk", password=None, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_organization"))
    client = Client()
    client.force_login(user)
    html = page(client, reverse("admin:index"))
    assert "recent-actions-module" not in html
    assert "someone" not in html


# --- 3. No Delete button where deleting is refused -------------------------------


@pytest.fixture
def history(ui_team) -> dict[str, object]:
    """One row of each kind the dashboard may never delete."""
    job = job_create(team=ui_team, job_type="delete-check")
    call = LLMCall.objects.create(
        job=job, team=ui_team, model_alias="chat-fast", status=CallStatus.SUCCEEDED
    )
    return {
        "teams_team": ui_team,
        "teams_virtualkey": ui_team.keys.get(),
        "credits_creditaccount": ui_team.credit_account,
        "credits_ledgerentry": ui_team.credit_account.entries.get(),
        "jobs_job": Job.objects.get(pk=job.pk),
        "jobs_llmcall": call,
        "teams_auditlog": AuditLog.objects.filter(object_id="ui-team").first(),
    }


@pytest.mark.parametrize(
    "name",
    [
        "teams_team",
        "teams_virtualkey",
        "credits_creditaccount",
        "credits_ledgerentry",
        "jobs_job",
        "jobs_llmcall",
        "teams_auditlog",
    ],
)
def test_pages_whose_delete_is_refused_offer_no_delete(operator, history, name):
    obj = history[name]
    delete_url = reverse(f"admin:{name}_delete", args=[obj.pk])
    html = page(operator, reverse(f"admin:{name}_change", args=[obj.pk]))
    assert delete_url not in html
    assert 'class="deletelink"' not in html
    changelist = page(operator, reverse(f"admin:{name}_changelist"))
    assert 'value="delete_selected"' not in changelist
    assert operator.post(delete_url, {"post": "yes"}).status_code == (
        HTTPStatus.FORBIDDEN
    )
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_an_organization_with_teams_shows_why_it_cannot_be_deleted(operator, ui_team):
    organization = ui_team.organization
    delete_url = reverse("admin:teams_organization_delete", args=[organization.pk])
    # The real reason (its teams hold on to it), not a missing permission: a team
    # is never deleted, so the operator's lack of that permission is beside the point.
    confirm = text(page(operator, delete_url))
    assert (
        "would require deleting the following protected related objects: "
        "Team: ui-team" in confirm
    )
    assert "permission" not in confirm
    response = operator.post(delete_url, {"post": "yes"})
    assert response.status_code == HTTPStatus.OK
    assert "protected related objects" in text(response.content.decode())
    bulk = operator.post(
        reverse("admin:teams_organization_changelist"),
        {"action": "delete_selected", "_selected_action": [organization.pk],
         "post": "yes"},
    )  # fmt: skip
    assert bulk.status_code == HTTPStatus.OK
    assert "protected related objects" in text(bulk.content.decode())
    assert Organization.objects.filter(pk=organization.pk).exists()
    assert not AuditLog.objects.filter(action="organization.delete").exists()


def test_a_refused_organization_delete_is_a_message_not_a_server_error(
    operator, organization, monkeypatch
):
    """A refusal Django's own check cannot see (a team created meanwhile): the
    service's Conflict is shown on the organization's page."""
    from saas_litellm.exceptions import Conflict
    from teams import services

    def refuse(*, organization, actor):
        raise Conflict("Organization 'org_acme' still has teams", code="in_use")

    monkeypatch.setattr(services, "organization_delete", refuse)
    url = reverse("admin:teams_organization_delete", args=[organization.pk])
    response = operator.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == HTTPStatus.OK
    assert response.redirect_chain[-1][0] == reverse(
        "admin:teams_organization_change", args=[organization.pk]
    )
    assert rendered_messages(response.content.decode()) == [
        "Organization 'org_acme' still has teams"
    ]
    assert Organization.objects.filter(pk=organization.pk).exists()


def test_an_empty_organization_still_offers_delete(operator, db):
    organization = organization_create(
        organization_id="org-empty", name="Empty", actor="tests"
    )
    html = page(
        operator, reverse("admin:teams_organization_change", args=[organization.pk])
    )
    assert reverse("admin:teams_organization_delete", args=[organization.pk]) in html


# --- 4. Ids keep their case in messages ------------------------------------------


def test_the_status_message_keeps_the_team_id_lowercase(operator, ui_team):
    url = reverse("admin:teams_team_status", args=[ui_team.pk, TeamStatus.SUSPENDED])
    response = operator.post(url, follow=True)
    assert rendered_messages(response.content.decode()) == [
        "Team ui-team is now suspended."
    ]


def test_the_add_credits_message_keeps_the_team_id_lowercase(operator, ui_team):
    url = reverse(
        "admin:credits_creditaccount_add_credits", args=[ui_team.credit_account.pk]
    )
    token = re.search(r'name="token" value="([0-9a-f-]+)"', page(operator, url))[1]
    response = operator.post(
        url, {"credits": 5, "reason": "", "token": token}, follow=True
    )
    (message,) = rendered_messages(response.content.decode())
    assert message.startswith("Team ui-team: 5 credits added (transaction ")


def test_a_refused_rotation_keeps_the_key_prefix_lowercase(operator, ui_team):
    key = ui_team.keys.get()
    virtual_key_revoke(team=ui_team, key_id=key.key_id, actor="tests")
    response = operator.post(
        reverse("admin:teams_virtualkey_changelist"),
        {"action": "rotate_keys", "_selected_action": [key.pk]},
        follow=True,
    )
    (message,) = rendered_messages(response.content.decode())
    assert message.startswith(f"Key {key.key_prefix}: ")
    assert key.key_prefix.startswith("sk-")


def test_a_deployment_test_message_keeps_the_alias_lowercase(operator, monkeypatch):
    alias = model_alias_create(
        actor="tests",
        model_alias="chat-fast",
        provider="openai",
        actual_model="openai/gpt-4o-mini",
    )
    checked = DeploymentCheck(
        deployment="chat-fast#0",
        model="openai/gpt-4o-mini",
        credential="",
        ok=True,
        latency_ms=12,
    )
    monkeypatch.setattr("teams.admin.deployments_check", lambda aliases: [checked])
    response = operator.post(
        reverse("admin:teams_modelalias_changelist"),
        {"action": "deployments_test", "_selected_action": [alias.pk]},
        follow=True,
    )
    assert rendered_messages(response.content.decode()) == [
        "Deployment chat-fast#0 (openai/gpt-4o-mini, no credential): ok in 12 ms"
    ]


def test_the_budget_mode_refusal_keeps_the_team_id_lowercase(
    operator, ui_team, monkeypatch
):
    from credits import admin as credits_admin
    from saas_litellm.exceptions import Conflict

    def refuse(*, team, actor, **rates):
        raise Conflict("not now", code="busy")

    monkeypatch.setattr(credits_admin, "team_budget_mode_set", refuse)
    response = operator.post(
        reverse("admin:teams_team_changelist"),
        {
            "action": "change_budget_mode",
            "_selected_action": [ui_team.pk],
            "apply": "1",
            "budget_mode": "job_based",
        },
        follow=True,
    )
    assert rendered_messages(response.content.decode()) == ["Team ui-team: not now"]


# --- 5. API docs without a CDN ---------------------------------------------------


def test_the_api_docs_load_swagger_ui_from_this_server(client):
    html = page(client, "/api/docs/")
    assert "cdn.jsdelivr" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert not [url for url in assets if re.match(r"(https?:)?//", url)]
    swagger = [url for url in assets if "swagger-ui" in url]
    expected = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
    for name in (*expected, "swagger-ui-standalone-preset.js"):
        assert any(url.endswith(name) for url in swagger), name
    for url in swagger:
        assert url.startswith("/static/drf_spectacular_sidecar/")
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK, url
        served = b"".join(response.streaming_content)
        assert served == Path(finders.find(url.removeprefix("/static/"))).read_bytes()
