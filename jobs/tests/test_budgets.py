"""Budgets inside a team (API.md, "Budgets inside a team"): a key's and an end
user's limits, enforced at admission with the pool's exactness, per calendar period
in the team's time zone, rolling over at the boundary with nothing to run."""

from __future__ import annotations

import datetime as dt
from http import HTTPStatus
from unittest import mock

import pytest
from django.db.models import F, Sum
from django.utils import timezone

from alerts.models import AlertEvent, EventType
from credits.models import BudgetSpend, CreditHold, HoldStatus, LedgerEntry
from credits.services import budget_set, credits_reconcile
from jobs.tests.conftest import account, call_body, complete, llm_call
from jobs.tests.test_concurrency import client_for, in_threads
from teams.models import BudgetMode, Team
from teams.services import virtual_key_issue

ACTOR = "tests"
# A Tuesday, mid-morning in UTC.
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)


def at(moment: dt.datetime):
    """The clock every service reads (django.utils.timezone.now) set to `moment`."""
    return mock.patch.object(timezone, "now", return_value=moment)


def one_call(key: str, **body):
    """A one-call job through the native endpoint (the key's own job)."""
    return client_for(key).post(
        "/api/jobs/create-and-call",
        {"team_id": "acme-corp", "job_type": "t", **call_body(), **body},
        format="json",
    )


def chat(key: str, **body):
    return client_for(key).post(
        "/v1/chat/completions", {**call_body(), **body}, format="json"
    )


def key_of(team: Team):
    return team.keys.get()


def spend_total(team: Team) -> tuple[int, int]:
    totals = BudgetSpend.objects.filter(budget__team=team).aggregate(
        used=Sum("used"), reserved=Sum("reserved")
    )
    return totals["used"] or 0, totals["reserved"] or 0


def test_a_key_over_its_daily_budget_is_refused_until_the_next_day(
    team, team_key, chat_alias
):
    budget_set(team=team, key=key_of(team), credits=2, period="day", actor=ACTOR)
    with at(TUESDAY):
        assert one_call(team_key).status_code == HTTPStatus.OK
        assert chat(team_key).status_code == HTTPStatus.OK
        refused = chat(team_key)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["error"]["code"] == "key_budget_exceeded"
    # 14 hours to midnight UTC.
    assert refused.headers["Retry-After"] == str(14 * 3600)
    with at(TUESDAY):
        native = one_call(team_key)
    assert native.status_code == HTTPStatus.FORBIDDEN
    assert (native.json()["detail"], native.json()["code"]) == (
        "Key budget exceeded",
        "key_budget_exceeded",
    )
    with at(TUESDAY.replace(hour=23, minute=59, second=59)):
        assert one_call(team_key).status_code == HTTPStatus.FORBIDDEN
    with at(TUESDAY.replace(hour=0) + dt.timedelta(days=1)):
        assert one_call(team_key).status_code == HTTPStatus.OK
    assert account(team).credits_used == 3
    assert credits_reconcile() == {}


def test_a_refusal_writes_nothing_and_other_keys_are_not_limited(
    team, team_key, chat_alias
):
    budget_set(team=team, key=key_of(team), credits=0, period=None, actor=ACTOR)
    before = (LedgerEntry.objects.count(), CreditHold.objects.count())
    refused = one_call(team_key)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "Retry-After" not in refused.headers  # no period: nothing resets it
    assert (LedgerEntry.objects.count(), CreditHold.objects.count()) == before
    other = virtual_key_issue(team=team, name="other")
    assert one_call(other.plaintext).status_code == HTTPStatus.OK


def test_an_end_user_budget_limits_its_user_on_every_endpoint(
    team, team_key, team_client, chat_alias
):
    budget_set(team=team, user_id="user-42", credits=1, period="month", actor=ACTOR)
    with at(TUESDAY):
        assert chat(team_key, user="user-42").status_code == HTTPStatus.OK
        refused = chat(team_key, user="user-42")
        created = team_client.post(
            "/api/jobs/create",
            {"team_id": "acme-corp", "job_type": "t", "user_id": "user-42"},
            format="json",
        )
        assert chat(team_key, user="user-7").status_code == HTTPStatus.OK
    assert refused.json()["error"]["code"] == "user_budget_exceeded"
    assert refused.json()["error"]["message"] == "End-user budget exceeded"
    # Six days and 14 hours to December 1st.
    assert refused.headers["Retry-After"] == str((6 * 24 + 14) * 3600)
    assert created.status_code == HTTPStatus.FORBIDDEN
    assert created.json()["code"] == "user_budget_exceeded"


def test_periods_follow_the_team_time_zone(team, team_key, chat_alias):
    team.timezone = "Asia/Tokyo"  # UTC+9: Tuesday 10:00 UTC is 19:00 there
    team.save()
    budget_set(team=team, key=key_of(team), credits=1, period="day", actor=ACTOR)
    with at(TUESDAY):
        assert one_call(team_key).status_code == HTTPStatus.OK
        refused = one_call(team_key)
    assert refused.headers["Retry-After"] == str(5 * 3600)  # midnight in Tokyo
    with at(TUESDAY + dt.timedelta(hours=5)):
        assert one_call(team_key).status_code == HTTPStatus.OK


def test_a_failed_job_gives_its_reservation_back_to_the_budget(
    team, team_key, team_client, chat_alias
):
    key = key_of(team)
    budget_set(team=team, key=key, credits=1, period="week", actor=ACTOR)
    job = team_client.post(
        "/api/jobs/create", {"team_id": "acme-corp", "job_type": "t"}, format="json"
    ).json()["job_id"]
    assert spend_total(team) == (0, 1)  # held for the open job
    assert one_call(team_key).status_code == HTTPStatus.FORBIDDEN
    complete(team_client, job, status="failed")  # no successful call: free
    assert spend_total(team) == (0, 0)
    assert one_call(team_key).status_code == HTTPStatus.OK
    assert spend_total(team) == (1, 0)


def test_a_job_keeps_counting_in_the_budget_of_the_key_that_opened_it(
    team, team_key, team_client, chat_alias
):
    """Calls added to a job by another key are paid by the job's key budget."""
    budget_set(team=team, key=key_of(team), credits=1, period=None, actor=ACTOR)
    job = team_client.post(
        "/api/jobs/create", {"team_id": "acme-corp", "job_type": "t"}, format="json"
    ).json()["job_id"]
    other = client_for(virtual_key_issue(team=team, name="other").plaintext)
    assert llm_call(other, job).status_code == HTTPStatus.OK
    assert complete(other, job).status_code == HTTPStatus.OK
    assert spend_total(team) == (1, 0)


def test_consumption_calls_grow_the_reservation_within_the_budget(
    team, team_client, chat_alias
):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 10
    team.save()
    budget_set(team=team, key=key_of(team), credits=5, period="day", actor=ACTOR)
    job = team_client.post(
        "/api/jobs/create", {"team_id": "acme-corp", "job_type": "t"}, format="json"
    ).json()["job_id"]
    # A worst case of 60+ tokens is 7+ credits: more than the key may spend.
    refused = llm_call(team_client, job, max_tokens=60)
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "key_budget_exceeded"
    assert llm_call(team_client, job, max_tokens=10).status_code == HTTPStatus.OK
    assert complete(team_client, job).status_code == HTTPStatus.OK
    used, reserved = spend_total(team)
    assert (reserved, used) == (0, account(team).credits_used)
    assert credits_reconcile() == {}


def test_a_budget_crossing_80_and_100_percent_alerts_once_each(
    team, team_key, chat_alias
):
    key = key_of(team)
    budget_set(team=team, key=key, credits=5, period="day", actor=ACTOR)
    with at(TUESDAY):
        for _ in range(6):
            one_call(team_key)
    events = AlertEvent.objects.filter(event_type=EventType.KEY_BUDGET_THRESHOLD)
    assert events.count() == 2
    assert sorted(e.data["threshold_percent"] for e in events) == [80, 100]
    assert {e.data["key_id"] for e in events} == {str(key.key_id)}
    assert {e.data["credits_limit"] for e in events} == {5}
    with at(TUESDAY + dt.timedelta(days=1)):
        for _ in range(4):
            one_call(team_key)
    assert events.all().count() == 3  # the next day's 80 % (a fresh query)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("rollups_agree")
def test_64_concurrent_requests_on_a_key_limited_to_10_a_day_serve_exactly_10(
    team, team_key, chat_alias
):
    budget_set(team=team, key=key_of(team), credits=10, period="day", actor=ACTOR)
    before = account(team).credits_used
    with at(TUESDAY):
        results = in_threads(64, lambda _: one_call(team_key))
        statuses = [result.status_code for result in results]
        assert statuses.count(HTTPStatus.OK) == 10
        assert statuses.count(HTTPStatus.FORBIDDEN) == 54
        codes = {r.json()["code"] for r in results if r.status_code != HTTPStatus.OK}
        assert codes == {"key_budget_exceeded"}
        assert one_call(team_key).status_code == HTTPStatus.FORBIDDEN  # the 11th
    with at(TUESDAY.replace(hour=0) + dt.timedelta(days=1)):
        assert one_call(team_key).status_code == HTTPStatus.OK
    assert account(team).credits_used == before + 11
    assert account(team).credits_reserved == 0
    assert spend_total(team) == (11, 0)
    assert not CreditHold.objects.filter(status=HoldStatus.OPEN).exists()
    assert credits_reconcile() == {}


def test_reconciliation_finds_a_budget_period_that_does_not_add_up(
    team, team_key, chat_alias
):
    budget_set(team=team, key=key_of(team), credits=5, period="day", actor=ACTOR)
    assert one_call(team_key).status_code == HTTPStatus.OK
    assert credits_reconcile() == {}
    BudgetSpend.objects.update(used=F("used") + 1)
    (problem,) = credits_reconcile()["acme-corp"]
    assert "used 2 != its jobs' deductions 1" in problem
