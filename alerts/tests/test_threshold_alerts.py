"""Allocation thresholds and low credits fire once per period, with the entry."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from alerts.models import AlertEvent, EventType, WebhookDelivery
from alerts.services import alert_rules_set
from alerts.tests.conftest import charge
from credits.models import EntryType
from credits.services import credit_add, credit_capture, credit_refund

pytestmark = pytest.mark.django_db


def rules_fired(team) -> list[str]:
    return list(
        AlertEvent.objects.filter(team=team)
        .order_by("id")
        .values_list("rule", flat=True)
    )


def test_crossing_80_percent_fires_the_80_percent_alert(team):
    charge(team, 79)
    assert rules_fired(team) == ["threshold:50"]
    charge(team, 1)
    assert rules_fired(team) == ["threshold:50", "threshold:80"]


def test_the_alert_carries_the_accounts_figures(team):
    charge(team, 85)
    event = AlertEvent.objects.get(team=team, rule="threshold:80")
    assert event.event_type == EventType.THRESHOLD_CROSSED
    assert event.data == {
        "team_id": "acme-corp",
        "threshold_percent": 80,
        "credits_allocated": 100,
        "credits_used": 85,
        "credits_remaining": 15,
        "balance": 15,
    }


def test_one_charge_across_several_thresholds_fires_each(team):
    charge(team, 99)
    assert rules_fired(team) == ["threshold:50", "threshold:80", "threshold:95"]


def test_charges_past_a_threshold_do_not_fire_it_again(team):
    for _ in range(5):
        charge(team, 17)
    assert rules_fired(team).count("threshold:80") == 1


def test_a_refund_and_a_new_crossing_in_one_period_fire_nothing_new(team):
    job_id = uuid.uuid4()
    credit_capture(team=team, job_id=job_id, credits=81)
    credit_refund(team=team, job_id=job_id, credits=10)
    charge(team, 10)
    assert rules_fired(team).count("threshold:80") == 1


def test_a_top_up_starts_a_new_period(team):
    charge(team, 80)
    credit_add(team=team, credits=100, entry_type=EntryType.REPLENISHMENT)
    charge(team, 80)  # 160 of 200
    assert rules_fired(team).count("threshold:80") == 2
    periods = AlertEvent.objects.filter(rule="threshold:80").values_list("period")
    assert len(set(periods)) == 2


def test_a_teams_own_thresholds_replace_the_defaults(team):
    alert_rules_set(team=team, thresholds_percent=[25], low_credits=None, actor="t")
    charge(team, 90)
    assert rules_fired(team) == ["threshold:25"]


def test_low_credits_fires_once_when_the_balance_falls_below(team):
    alert_rules_set(team=team, thresholds_percent=[], low_credits=10, actor="t")
    charge(team, 89)
    assert rules_fired(team) == []
    charge(team, 2)
    charge(team, 2)
    assert rules_fired(team) == ["low_credits"]


def test_an_alert_rolls_back_with_its_ledger_entry(team, webhook):
    def charge_then_fail() -> None:
        with transaction.atomic():
            charge(team, 90)
            assert AlertEvent.objects.count() == 2
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        charge_then_fail()
    assert AlertEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert DBTaskResult.objects.count() == 0


def test_an_alert_commits_with_its_delivery_and_task(team, webhook):
    charge(team, 80)
    assert WebhookDelivery.objects.count() == 2
    assert (
        DBTaskResult.objects.filter(task_path__endswith="webhook_deliver").count() == 2
    )


@pytest.mark.postgres
def test_a_charge_reads_the_rules_once_per_catalogue_version(team, team_key):
    """A charge made for a request (its team carrying the catalogue version read
    with the key) reads the team's rules only when the version moved: changing
    the rules moves it, so the next request's charge sees them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from teams.key_lookup import virtual_key_with_team
    from teams.keys import virtual_key_digest

    def request_team():  # as authentication gives it
        key = virtual_key_with_team(virtual_key_digest(team_key))
        key.team.catalogue_version = key.catalogue_version
        return key.team

    def settings_read(credits: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            charge(request_team(), credits)
        return sum("alerts_alertsettings" in q["sql"] for q in queries)

    before = request_team().catalogue_version
    alert_rules_set(team=team, thresholds_percent=[10], low_credits=None, actor="t")
    assert request_team().catalogue_version > before
    assert settings_read(11) == 1
    assert settings_read(1) == 0  # the same version: kept
    assert rules_fired(team) == ["threshold:10"]
    alert_rules_set(team=team, thresholds_percent=[30], low_credits=None, actor="t")
    assert settings_read(20) == 1  # 32 % used: the new rule fires
    assert rules_fired(team) == ["threshold:10", "threshold:30"]
