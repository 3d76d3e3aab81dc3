from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.tests.factories import AccessGroupFactory, ModelAliasFactory

pytestmark = pytest.mark.django_db

DETAIL_FIELDS = {
    "team_id",
    "organization_id",
    "team_alias",
    "status",
    "access_groups",
    "allowed_models",
    "credits_allocated",
    "credits_used",
    "credits_reserved",
    "credits_remaining",
    "budget_mode",
    "tokens_per_credit",
    "credits_per_dollar",
    "markup_percent",
    "requests_per_minute",
    "tokens_per_minute",
    "max_parallel_requests",
    "timezone",
    "payload_log_days",
    "created_at",
    "keys",
}


def test_the_operator_sees_a_team_with_balance_and_keys_but_no_plaintext(
    admin_client_api, team, team_key
):
    response = admin_client_api.get("/api/teams/acme-corp")
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert set(data) == DETAIL_FIELDS
    assert (data["credits_allocated"], data["credits_remaining"]) == (100, 100)
    assert [key["name"] for key in data["keys"]] == ["default"]
    assert "virtual_key" not in data
    assert team_key not in response.content.decode()


def test_a_team_key_sees_its_own_team(team_client):
    response = team_client.get("/api/teams/acme-corp")
    assert response.json()["team_id"] == "acme-corp"


def test_a_team_key_cannot_see_another_team(team_client, other_team):
    response = team_client.get("/api/teams/globex")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["detail"] == "API key does not belong to team 'globex'"


def test_an_unknown_team_is_404(admin_client_api):
    assert admin_client_api.get("/api/teams/nobody").status_code == HTTPStatus.NOT_FOUND


def test_the_team_list_is_paginated_with_a_total(admin_client_api, team, other_team):
    response = admin_client_api.get("/api/teams?limit=1&offset=1")
    data = response.json()
    assert (data["total"], data["limit"], data["offset"]) == (2, 1, 1)
    assert [t["team_id"] for t in data["teams"]] == ["globex"]
    assert "keys" not in data["teams"][0]


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "offset=-1", "limit=501"])
def test_a_bad_page_is_400(admin_client_api, query):
    response = admin_client_api.get(f"/api/teams?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_team_key_cannot_list_teams(team_client):
    assert team_client.get("/api/teams").status_code == HTTPStatus.UNAUTHORIZED


def test_the_operator_updates_settings_groups_and_rate_limits(admin_client_api, team):
    group = AccessGroupFactory(group_name="gpt-models")
    ModelAliasFactory(model_alias="fast", access_groups=[group])
    response = admin_client_api.put(
        "/api/teams/acme-corp",
        {
            "team_alias": "ACME",
            "access_groups": ["gpt-models"],
            "budget_mode": "consumption_tokens",
            "tokens_per_credit": 2000,
            "requests_per_minute": 60,
            "max_parallel_requests": None,
        },
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    data = response.json()
    assert (data["team_alias"], data["budget_mode"], data["tokens_per_credit"]) == (
        "ACME",
        "consumption_tokens",
        2000,
    )
    assert (data["access_groups"], data["allowed_models"]) == (["gpt-models"], ["fast"])
    assert (data["requests_per_minute"], data["max_parallel_requests"]) == (60, None)


def test_a_rate_limit_set_to_null_means_unlimited_again(admin_client_api, team):
    admin_client_api.put(
        "/api/teams/acme-corp", {"tokens_per_minute": 10}, format="json"
    )
    response = admin_client_api.put(
        "/api/teams/acme-corp", {"tokens_per_minute": None}, format="json"
    )
    assert response.json()["tokens_per_minute"] is None


def test_an_update_naming_an_unknown_group_is_404_and_changes_nothing(
    admin_client_api, team
):
    response = admin_client_api.put(
        "/api/teams/acme-corp",
        {"team_alias": "Renamed", "access_groups": ["nope"]},
        format="json",
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    team.refresh_from_db()
    assert team.team_alias == ""


@pytest.mark.parametrize(
    "change",
    [{"budget_mode": "free"}, {"requests_per_minute": 0}, {"markup_percent": "-5"}],
)
def test_a_bad_update_is_400(admin_client_api, team, change):
    response = admin_client_api.put("/api/teams/acme-corp", change, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_team_key_cannot_update_its_team(team_client, team):
    response = team_client.put(
        "/api/teams/acme-corp", {"team_alias": "x"}, format="json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["detail"] == "Invalid or missing admin key"


def test_an_update_without_a_key_asks_for_the_admin_key(anonymous_client, team):
    response = anonymous_client.put("/api/teams/acme-corp", {}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["detail"] == "Invalid or missing admin key"


def test_a_team_path_with_a_nul_byte_is_404(admin_client_api):
    assert admin_client_api.get("/api/teams/a%00b").status_code == HTTPStatus.NOT_FOUND


def test_a_team_key_never_reads_the_operators_markup(team_client, admin_client_api):
    assert "markup_percent" not in team_client.get("/api/teams/acme-corp").json()
    assert "markup_percent" in admin_client_api.get("/api/teams/acme-corp").json()
