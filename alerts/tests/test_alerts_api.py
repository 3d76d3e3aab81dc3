"""The operator's alerts API: rules per team, webhooks with a secret shown once."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from alerts.models import AlertEvent
from alerts.tests.conftest import charge

pytestmark = pytest.mark.django_db


def create_webhook(client, **body):
    return client.post(
        "/api/webhooks", {"url": "https://hooks.example.com/in", **body}, format="json"
    )


def test_a_teams_rules_default_to_50_80_95(admin_client_api, team):
    response = admin_client_api.get("/api/teams/acme-corp/alerts")
    assert response.json() == {
        "team_id": "acme-corp",
        "thresholds_percent": [50, 80, 95],
        "low_credits": None,
    }


def test_put_replaces_a_teams_rules(admin_client_api, team):
    body = {"thresholds_percent": [90, 10], "low_credits": 5}
    response = admin_client_api.put("/api/teams/acme-corp/alerts", body, format="json")
    assert response.json()["thresholds_percent"] == [10, 90]
    charge(team, 10)
    assert AlertEvent.objects.get().rule == "threshold:10"


@pytest.mark.parametrize("thresholds", [[0], [101], ["80"], [True], list(range(1, 12))])
def test_bad_thresholds_are_a_400(admin_client_api, team, thresholds):
    body = {"thresholds_percent": thresholds}
    response = admin_client_api.put("/api/teams/acme-corp/alerts", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_team_key_cannot_set_alerts(team_client, team):
    body = {"thresholds_percent": [10]}
    response = team_client.put("/api/teams/acme-corp/alerts", body, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_creating_a_webhook_shows_its_secret_once(admin_client_api, team):
    created = create_webhook(admin_client_api, team_id="acme-corp")
    assert created.status_code == HTTPStatus.CREATED
    secret = created.json()["secret"]
    assert secret.startswith("whsec_")
    assert created["Cache-Control"] == "no-store"
    webhook_id = created.json()["webhook_id"]
    listed = admin_client_api.get("/api/webhooks")
    detail = admin_client_api.get(f"/api/webhooks/{webhook_id}")
    assert secret not in listed.content.decode() + detail.content.decode()
    assert detail.json()["team_id"] == "acme-corp"


def test_a_webhook_for_an_unknown_team_is_a_404(admin_client_api, db):
    response = create_webhook(admin_client_api, team_id="nobody")
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_webhook_for_another_organizations_team_is_a_404(admin_client_api, team):
    from teams.services import organization_create

    organization_create(organization_id="other", name="Other", actor="t")
    response = create_webhook(
        admin_client_api, team_id="acme-corp", organization_id="other"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_an_unknown_event_type_is_a_400(admin_client_api, db):
    response = create_webhook(admin_client_api, events=["credits.spent"])
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_deleted_webhook_is_gone(admin_client_api, db):
    webhook_id = create_webhook(admin_client_api).json()["webhook_id"]
    deleted = admin_client_api.delete(f"/api/webhooks/{webhook_id}")
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert admin_client_api.get(f"/api/webhooks/{webhook_id}").status_code == 404
    assert admin_client_api.get("/api/webhooks").json() == []


def test_deliveries_list_the_endpoints_events(admin_client_api, team):
    webhook_id = create_webhook(admin_client_api, team_id="acme-corp").json()[
        "webhook_id"
    ]
    charge(team, 50)
    deliveries = admin_client_api.get(f"/api/webhooks/{webhook_id}/deliveries").json()
    assert [(d["type"], d["status"]) for d in deliveries] == [
        ("credits.threshold_crossed", "pending")
    ]


def test_an_organization_webhook_gets_its_teams_events_only(
    admin_client_api, team, other_team
):
    create_webhook(admin_client_api, organization_id="org_acme")
    create_webhook(admin_client_api, team_id="globex")
    charge(team, 50)
    deliveries = AlertEvent.objects.get().deliveries.select_related("endpoint")
    assert [d.endpoint.organization_id for d in deliveries] == [team.organization_id]


def test_a_malformed_webhook_id_is_a_404(admin_client_api, db):
    assert admin_client_api.get("/api/webhooks/not-a-uuid").status_code == 404
