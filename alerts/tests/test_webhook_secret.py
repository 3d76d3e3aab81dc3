"""A webhook's secret is shown once: never in logs, lists or the admin's pages."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from alerts.models import WebhookDelivery, WebhookEndpoint
from alerts.services import webhook_delivery_run, webhook_endpoint_create
from alerts.signing import SECRET_PREFIX
from teams.models import AuditLog
from teams.services import team_status_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db) -> Client:
    user = get_user_model().objects.create_superuser("operator", "o@example.com")
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_shows_the_secret_once_then_never(superuser_client, team):
    created = superuser_client.post(
        "/admin/alerts/webhookendpoint/add/",
        {"url": "https://hooks.example.com/in", "team": team.pk},
    )
    assert created.status_code == HTTPStatus.OK
    assert "no-store" in created["Cache-Control"]
    page = created.content.decode()
    secret = page.split('id="webhook-secret"', 1)[1].split('value="', 1)[1][:70]
    secret = secret.split('"', 1)[0]
    assert secret.startswith(SECRET_PREFIX)
    endpoint = WebhookEndpoint.objects.get()
    change = superuser_client.get(
        f"/admin/alerts/webhookendpoint/{endpoint.pk}/change/"
    )
    listing = superuser_client.get("/admin/alerts/webhookendpoint/")
    assert change.status_code == HTTPStatus.OK
    assert secret not in change.content.decode()
    assert secret not in listing.content.decode()
    assert endpoint.secret_prefix in change.content.decode()


def test_the_secret_is_stored_encrypted_and_not_audited(team):
    created = webhook_endpoint_create(url="https://h.example.com", actor="t")
    assert created.secret not in created.endpoint.encrypted_secret
    audit = AuditLog.objects.get(action="webhook.create")
    assert created.secret not in str(audit.after)


def test_delivering_never_logs_the_secret(team, receiver, caplog):
    created = webhook_endpoint_create(url=receiver.url, team=team, actor="t")
    with caplog.at_level(logging.DEBUG):
        team_status_set(team=team, status="suspended", actor="t")
        # The task's body, in the test's transaction (the worker itself is run by
        # the PostgreSQL tests, whose worker processes' output is checked too).
        webhook_delivery_run(delivery_id=WebhookDelivery.objects.get().pk)
    assert receiver.received
    assert "webhook delivery" in caplog.text
    assert created.secret not in caplog.text


def test_the_alerts_list_shows_team_rule_period_and_delivery_state(
    superuser_client, team
):
    webhook_endpoint_create(url="https://h.example.com", team=team, actor="t")
    team_status_set(team=team, status="suspended", actor="t")
    page = superuser_client.get("/admin/alerts/alertevent/").content.decode()
    assert "team_suspended" in page
    assert "0/1 delivered, 1 pending" in page


def test_the_admin_deletes_an_endpoint_that_has_deliveries(
    superuser_client, webhook, team
):
    endpoint, _ = webhook
    team_status_set(team=team, status="suspended", actor="tests")  # one delivery
    assert WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    url = f"/admin/alerts/webhookendpoint/{endpoint.pk}/delete/"
    confirm = superuser_client.get(url)
    assert confirm.status_code == HTTPStatus.OK
    assert "Cannot delete" not in confirm.content.decode()
    done = superuser_client.post(url, {"post": "yes"})
    assert done.status_code == HTTPStatus.FOUND
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is not None  # stopped; its history stays
    assert WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    assert AuditLog.objects.filter(action="webhook.delete").exists()
