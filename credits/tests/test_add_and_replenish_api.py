from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.models import LedgerEntry

pytestmark = pytest.mark.django_db

ADD = "/api/credits/teams/acme-corp/add"
REPLENISH = "/api/credits/teams/acme-corp/replenish"


def test_the_operator_adds_credits_and_gets_the_entry_and_balance(
    admin_client_api, team
):
    response = admin_client_api.post(
        ADD, {"credits": 50, "reason": "bonus"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    body = response.json()
    assert body["transaction"]["type"] == "allocation"
    assert (body["transaction"]["credits_amount"], body["transaction"]["reason"]) == (
        50,
        "bonus",
    )
    assert body["balance"]["credits_remaining"] == 150


def test_replenish_records_the_payment(admin_client_api, team):
    response = admin_client_api.post(
        REPLENISH,
        {"credits": 500, "payment_type": "subscription", "payment_amount_usd": "49.99"},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    entry = LedgerEntry.objects.get(
        transaction_id=response.json()["transaction"]["transaction_id"]
    )
    assert (entry.entry_type, entry.payment_type, str(entry.payment_amount_usd)) == (
        "replenishment",
        "subscription",
        "49.99",
    )


@pytest.mark.parametrize(
    "credits", ["1.5", 1.5, "10", True, 0, -3, 10**18, None, 10.0, [5], {"n": 5}]
)
def test_credits_that_are_not_a_positive_whole_number_are_refused(
    admin_client_api, team, credits
):
    response = admin_client_api.post(ADD, {"credits": credits}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("Invalid request: credits: ")
    assert "credits" in response.json()["errors"]
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


def test_missing_credits_are_refused(admin_client_api, team):
    response = admin_client_api.post(ADD, {}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert (
        response.json()["detail"] == "Invalid request: credits: This field is required."
    )


def test_a_malformed_json_body_is_400(admin_client_api, team):
    response = admin_client_api.post(
        ADD, "{credits: 5", content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


def test_a_body_that_is_not_an_object_is_400(admin_client_api, team):
    response = admin_client_api.post(ADD, [5], format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_an_unknown_payment_type_is_refused(admin_client_api, team):
    response = admin_client_api.post(
        REPLENISH, {"credits": 5, "payment_type": "barter"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "payment_type" in response.json()["detail"]
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


def test_adding_to_an_unknown_team_is_404(admin_client_api):
    response = admin_client_api.post(
        "/api/credits/teams/nobody/add", {"credits": 5}, format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not LedgerEntry.objects.exists()


def test_a_team_key_cannot_add_credits(team_client, team):
    response = team_client.post(ADD, {"credits": 5}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["detail"] == "Invalid or missing admin key"
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


def test_an_over_long_reason_is_refused(admin_client_api, team):
    response = admin_client_api.post(
        ADD, {"credits": 5, "reason": "x" * 501}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert LedgerEntry.objects.filter(account__team=team).count() == 1
