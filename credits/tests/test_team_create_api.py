from __future__ import annotations

import re
from http import HTTPStatus

import pytest

from credits.models import CreditAccount, LedgerEntry
from credits.services import teams as team_services
from credits.tests.factories import AccessGroupFactory, ModelAliasFactory
from saas_litellm.exceptions import InvalidInput
from teams.models import AuditLog, Team, VirtualKey

pytestmark = pytest.mark.django_db

URL = "/api/teams/create"


@pytest.fixture
def catalogue(db):
    gpt = AccessGroupFactory(group_name="gpt-models")
    claude = AccessGroupFactory(group_name="claude-models")
    ModelAliasFactory(model_alias="fast", access_groups=[gpt])
    ModelAliasFactory(model_alias="best", access_groups=[gpt, claude])
    ModelAliasFactory(model_alias="retired", access_groups=[gpt], is_active=False)
    ModelAliasFactory(model_alias="other", access_groups=[AccessGroupFactory()])
    return gpt, claude


def body(**overrides):
    return {
        "organization_id": "org_acme",
        "team_id": "initech",
        "team_alias": "Initech",
        "access_groups": ["gpt-models", "claude-models"],
        "credits_allocated": 250,
        **overrides,
    }


def test_creating_a_team_returns_its_key_once_and_funds_it(
    admin_client_api, organization, catalogue
):
    response = admin_client_api.post(URL, body(), format="json")
    assert response.status_code == HTTPStatus.CREATED
    data = response.json()
    assert re.fullmatch(r"sk-[0-9a-f]{32}", data.pop("virtual_key"))
    assert data == {
        "team_id": "initech",
        "organization_id": "org_acme",
        "team_alias": "Initech",
        "key_prefix": data["key_prefix"],
        "key_id": data["key_id"],
        "access_groups": ["claude-models", "gpt-models"],
        "allowed_models": ["best", "fast"],
        "credits_allocated": 250,
        "credits_remaining": 250,
        "status": "active",
        "budget_mode": "job_based",
    }
    entry = LedgerEntry.objects.get(account__team__team_id="initech")
    assert (entry.entry_type, entry.amount) == ("allocation", 250)


def test_a_team_created_with_zero_credits_has_an_empty_account_and_no_entry(
    admin_client_api, organization
):
    response = admin_client_api.post(
        URL, body(access_groups=[], credits_allocated=0), format="json"
    )
    assert response.json()["credits_remaining"] == 0
    assert CreditAccount.objects.filter(team__team_id="initech").exists()
    assert not LedgerEntry.objects.exists()


def test_rates_and_budget_mode_are_set_at_creation(admin_client_api, organization):
    admin_client_api.post(
        URL,
        body(
            access_groups=[],
            budget_mode="consumption_usd",
            credits_per_dollar="20",
            markup_percent="15.5",
        ),
        format="json",
    )
    team = Team.objects.get(team_id="initech")
    assert (team.budget_mode, str(team.markup_percent)) == ("consumption_usd", "15.50")


def test_an_unknown_organization_is_404(admin_client_api, catalogue):
    response = admin_client_api.post(URL, body(), format="json")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Organization 'org_acme' not found"


def test_an_unknown_access_group_is_404_and_creates_nothing(
    admin_client_api, organization, catalogue
):
    response = admin_client_api.post(
        URL, body(access_groups=["gpt-models", "nope"]), format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "nope" in response.json()["detail"]
    assert not Team.objects.filter(team_id="initech").exists()


def test_a_duplicate_team_is_409_and_adds_no_credits(admin_client_api, team):
    response = admin_client_api.post(
        URL, body(team_id="acme-corp", access_groups=[]), format="json"
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"team_id": "has space"},
        {"team_id": "x" * 101},
        {"credits_allocated": -1},
        {"credits_allocated": "100"},
        {"credits_allocated": 1.5},
        {"budget_mode": "free"},
        {"access_groups": "gpt-models"},
        {"tokens_per_credit": 0},
        {"metadata": ["not", "an", "object"]},
    ],
)
def test_bad_input_is_400_and_creates_nothing(
    admin_client_api, organization, overrides
):
    response = admin_client_api.post(
        URL, body(**{"access_groups": [], **overrides}), format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("Invalid request: ")
    assert not Team.objects.exists()


def test_a_failure_after_the_team_and_key_exist_leaves_nothing_behind(
    admin_client_api, organization, monkeypatch
):
    def ledger_down(**kwargs):
        raise InvalidInput("ledger unavailable")

    monkeypatch.setattr(team_services, "credit_add", ledger_down)
    response = admin_client_api.post(URL, body(access_groups=[]), format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not Team.objects.exists()
    assert not VirtualKey.objects.exists()
    assert not CreditAccount.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert not AuditLog.objects.filter(action="team.create").exists()


def test_a_team_key_cannot_create_teams(team_client):
    response = team_client.post(URL, body(access_groups=[]), format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
