"""Concurrent charges crossing a threshold fire its alert exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from alerts.models import AlertEvent, WebhookDelivery
from alerts.tests.conftest import charge
from credits.models import CreditAccount, LedgerEntry

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rollups_agree"),
]


def in_threads(count: int, work) -> list:
    def run(number: int):
        try:
            return work(number)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def assert_ledger_invariant(team) -> None:
    account = CreditAccount.objects.get(team=team)
    total = LedgerEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"]
    assert account.credits_allocated - account.credits_used == total


def test_32_concurrent_charges_fire_the_80_percent_alert_once(team, webhook):
    in_threads(32, lambda _: charge(team, 3))  # 96 of 100 credits
    for threshold in (50, 80, 95):
        assert AlertEvent.objects.filter(rule=f"threshold:{threshold}").count() == 1
    assert WebhookDelivery.objects.count() == 3
    assert_ledger_invariant(team)


def test_a_failing_concurrent_transaction_leaves_no_alert(team):
    def work(number: int) -> None:
        try:
            with transaction.atomic():
                charge(team, 3)
                if number % 2:
                    raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    in_threads(32, work)  # 16 charges of 3 commit: 48 of 100, under 50 %
    assert CreditAccount.objects.get(team=team).credits_used == 48
    assert AlertEvent.objects.count() == 0
    charge(team, 2)
    assert list(AlertEvent.objects.values_list("rule", flat=True)) == ["threshold:50"]
