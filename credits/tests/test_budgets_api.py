"""The budget endpoints (API.md, "Budgets inside a team") and the calendar periods
they count in. Enforcement is tested in jobs/tests/test_budgets.py."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from credits.models import Budget
from credits.services import period_bounds
from teams.models import AuditLog, Team
from teams.services import virtual_key_issue

UTC = dt.UTC


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "zone", "now", "start", "end"),
    [
        ("day", "UTC", at(2026, 11, 24, 10), at(2026, 11, 24), at(2026, 11, 25)),
        # Paris is UTC+1 in winter: its day starts at 23:00 UTC the day before.
        (
            "day",
            "Europe/Paris",
            at(2026, 11, 24, 23, 30),
            at(2026, 11, 24, 23),
            at(2026, 11, 25, 23),
        ),
        # The night clocks go forward (29 March 2026): a day of 23 hours.
        (
            "day",
            "Europe/Paris",
            at(2026, 3, 29, 12),
            at(2026, 3, 28, 23),
            at(2026, 3, 29, 22),
        ),
        # Weeks start on Monday (23 November 2026).
        ("week", "UTC", at(2026, 11, 29, 23, 59), at(2026, 11, 23), at(2026, 11, 30)),
        ("month", "UTC", at(2026, 12, 31, 23), at(2026, 12, 1), at(2027, 1, 1)),
        ("month", "UTC", at(2027, 2, 1), at(2027, 2, 1), at(2027, 3, 1)),
        ("", "Asia/Tokyo", at(2026, 11, 24), at(1970, 1, 1), None),
    ],
)
def test_periods_are_calendar_periods_in_the_team_time_zone(
    period, zone, now, start, end
):
    assert period_bounds(period, zone, now) == (start, end)


def key_budget_path(team: Team, key_id) -> str:
    return f"/api/teams/{team.team_id}/keys/{key_id}/budget"


def test_the_operator_sets_a_key_budget_and_the_key_reads_it(
    admin_client_api, team, team_client
):
    key = team.keys.get()
    path = key_budget_path(team, key.key_id)
    response = admin_client_api.put(
        path, {"credits": 200, "period": "day"}, format="json"
    )
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert {k: body[k] for k in ("credits", "period", "spent", "remaining")} == {
        "credits": 200,
        "period": "day",
        "spent": 0,
        "remaining": 200,
    }
    assert body["resets_at"].endswith("T00:00:00Z")
    assert team_client.get(path).json() == body
    me = team_client.get("/api/keys/self").json()
    assert me["key_id"] == str(key.key_id)
    assert (me["team_id"], me["name"], me["budget"]) == ("acme-corp", key.name, body)
    assert "sk-" not in str(me).replace(key.key_prefix, "")
    audit = AuditLog.objects.filter(action="budget.set").get()
    assert audit.after["credits"] == 200


def test_a_budget_removed_with_null_credits(admin_client_api, team, team_client):
    path = key_budget_path(team, team.keys.get().key_id)
    admin_client_api.put(path, {"credits": 5}, format="json")
    assert team.__class__.objects.get(pk=team.pk).sub_budgets
    removed = admin_client_api.put(path, {"credits": None}, format="json")
    assert removed.json()["credits"] is None
    assert team_client.get("/api/keys/self").json()["budget"] is None
    assert not team.__class__.objects.get(pk=team.pk).sub_budgets


def test_a_key_may_not_set_budgets_nor_read_another_key(
    admin_client_api, team, team_client, other_team
):
    own = key_budget_path(team, team.keys.get().key_id)
    refused = team_client.put(own, {"credits": 10**6}, format="json")
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    sibling = virtual_key_issue(team=team, name="sibling").key
    assert team_client.get(key_budget_path(team, sibling.key_id)).status_code == (
        HTTPStatus.NOT_FOUND
    )
    foreign = other_team.keys.get()
    assert team_client.get(key_budget_path(other_team, foreign.key_id)).status_code == (
        HTTPStatus.FORBIDDEN
    )
    # Another team's key under this team's path: not found, for the operator too.
    assert admin_client_api.get(key_budget_path(team, foreign.key_id)).status_code == (
        HTTPStatus.NOT_FOUND
    )
    assert admin_client_api.get(key_budget_path(team, "nope")).status_code == (
        HTTPStatus.NOT_FOUND
    )


@pytest.mark.parametrize(
    "body",
    [
        {"credits": -1},
        {"credits": "5"},
        {"credits": True},
        {"credits": 5, "period": "year"},
        {"period": "day"},
        [],
    ],
)
def test_a_bad_budget_is_a_400(admin_client_api, team, body):
    path = key_budget_path(team, team.keys.get().key_id)
    response = admin_client_api.put(path, body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid_request"


def test_end_user_budgets_are_set_by_the_operator_and_read_by_the_team(
    admin_client_api, team_client, team
):
    path = "/api/teams/acme-corp/end-users/user-42/budget"
    assert team_client.get(path).json()["credits"] is None
    set_ = admin_client_api.put(path, {"credits": 50, "period": "month"}, format="json")
    assert set_.status_code == HTTPStatus.OK
    assert team_client.get(path).json() == set_.json()
    assert team_client.put(path, {"credits": 1}, format="json").status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    long_id = "u" * 201
    too_long = admin_client_api.put(
        f"/api/teams/acme-corp/end-users/{long_id}/budget",
        {"credits": 1},
        format="json",
    )
    assert too_long.status_code == HTTPStatus.BAD_REQUEST


def test_the_team_time_zone_is_a_setting(admin_client_api, team):
    response = admin_client_api.put(
        "/api/teams/acme-corp", {"timezone": "Europe/Paris"}, format="json"
    )
    assert response.json()["timezone"] == "Europe/Paris"
    bad = admin_client_api.put(
        "/api/teams/acme-corp", {"timezone": "Mars/Olympus"}, format="json"
    )
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "time zone" in bad.json()["detail"]


def test_keys_self_needs_a_team_key(admin_client_api):
    assert admin_client_api.get("/api/keys/self").status_code == (
        HTTPStatus.UNAUTHORIZED
    )
    assert APIClient().get("/api/keys/self").status_code == HTTPStatus.UNAUTHORIZED


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_superuser(
        "operator", "operator@example.com", "a-long-test-password"
    )
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboard_sets_lists_and_removes_budgets_through_the_service(
    operator, team, other_team
):
    add = reverse("admin:credits_budget_add")
    foreign = operator.post(
        add,
        {"team": team.pk, "key": other_team.keys.get().pk, "credits": 5, "period": ""},
    )
    assert foreign.status_code == HTTPStatus.OK  # the form again, with the error
    assert "Key not found" in foreign.content.decode()
    created = operator.post(
        add, {"team": team.pk, "user_id": "user-42", "credits": 5, "period": "day"}
    )
    assert created.status_code == HTTPStatus.FOUND
    budget = Budget.objects.get()
    assert (budget.user_id, budget.credits, budget.period) == ("user-42", 5, "day")
    assert AuditLog.objects.filter(action="budget.set").count() == 1
    listing = operator.get(reverse("admin:credits_budget_changelist"))
    assert "user user-42" in listing.content.decode()
    operator.post(
        reverse("admin:credits_budget_delete", args=[budget.pk]), {"post": "yes"}
    )
    assert not Budget.objects.exists()
    assert not Team.objects.get(pk=team.pk).sub_budgets


def test_v1_key_answers_the_same_in_openai_s_dialect(
    admin_client_api, team, team_client
):
    path = key_budget_path(team, team.keys.get().key_id)
    admin_client_api.put(path, {"credits": 7, "period": "week"}, format="json")
    assert team_client.get("/v1/key").json() == team_client.get("/api/keys/self").json()
    refused = APIClient().get("/v1/key")
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert refused.json()["error"]["code"] == "invalid_api_key"
