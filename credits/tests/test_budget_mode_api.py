from __future__ import annotations

from http import HTTPStatus

import pytest

from teams.models import AuditLog, Team

pytestmark = pytest.mark.django_db

URL = "/api/credits/teams/acme-corp/budget-mode"


def test_the_operator_switches_a_team_to_token_billing(admin_client_api, team):
    response = admin_client_api.patch(
        URL,
        {"budget_mode": "consumption_tokens", "tokens_per_credit": 5000},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "team_id": "acme-corp",
        "budget_mode": "consumption_tokens",
        "tokens_per_credit": 5000,
        "credits_per_dollar": "10.0000",
        "markup_percent": "0.00",
    }
    assert AuditLog.objects.filter(action="team.update", object_id="acme-corp").exists()


def test_usd_billing_takes_credits_per_dollar_and_markup_as_decimals(
    admin_client_api, team
):
    admin_client_api.patch(
        URL,
        {
            "budget_mode": "consumption_usd",
            "credits_per_dollar": "12.5",
            "markup_percent": 20,
        },
        format="json",
    )
    team.refresh_from_db()
    assert (str(team.credits_per_dollar), str(team.markup_percent)) == (
        "12.5000",
        "20.00",
    )


def test_an_unknown_budget_mode_is_400_listing_the_valid_ones(admin_client_api, team):
    response = admin_client_api.patch(URL, {"budget_mode": "free"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    detail = response.json()["detail"]
    for mode in ("job_based", "consumption_tokens", "consumption_usd"):
        assert mode in detail
    assert Team.objects.get(team_id="acme-corp").budget_mode == "job_based"


@pytest.mark.parametrize(
    "rates",
    [
        {"tokens_per_credit": 0},
        {"tokens_per_credit": "100"},
        {"credits_per_dollar": 0},
        {"markup_percent": -1},
        {"credits_per_dollar": "lots"},
    ],
)
def test_bad_rates_are_400_and_change_nothing(admin_client_api, team, rates):
    response = admin_client_api.patch(
        URL, {"budget_mode": "consumption_usd", **rates}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Team.objects.get(team_id="acme-corp").budget_mode == "job_based"


def test_a_team_key_cannot_change_its_budget_mode(team_client):
    response = team_client.patch(URL, {"budget_mode": "job_based"}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
