"""Concurrent charges on PostgreSQL: real threads, real row locks, one team.

Each thread closes its database connection when it is done, so the test database can
be dropped afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from http import HTTPStatus
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from credits.models import CreditHold, EntryType, HoldStatus, LedgerEntry
from credits.services import credit_capture, credit_release, credit_reserve
from credits.tests.invariants import assert_ledger_consistent
from saas_litellm.exceptions import InsufficientCredits, JobClosed

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 64
ATTEMPTS = 128


def run_in_threads(count: int, work) -> list:
    """Start `count` threads together (a barrier) and collect what each returns."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def reconcile_output() -> str:
    out = StringIO()
    call_command("reconcile_credits", stdout=out)
    return out.getvalue()


def test_64_threads_charging_128_times_a_team_of_40_credits_succeed_exactly_40_times(
    make_team,
):
    team = make_team(credits=40)

    def charge_twice(index: int) -> list[str]:
        outcomes = []
        for _ in range(ATTEMPTS // THREADS):
            job_id = uuid.uuid4()
            try:
                credit_reserve(team=team, job_id=job_id, credits=1)
            except InsufficientCredits:
                outcomes.append("refused")
                continue
            credit_capture(team=team, job_id=job_id, credits=1)
            outcomes.append("charged")
        return outcomes

    results = run_in_threads(THREADS, charge_twice)
    assert not [r for r in results if isinstance(r, Exception)]
    outcomes = Counter(outcome for result in results for outcome in result)
    assert outcomes == {"charged": 40, "refused": 88}
    account = assert_ledger_consistent(team)
    assert (account.balance, account.credits_reserved) == (0, 0)
    assert account.entries.filter(entry_type=EntryType.DEDUCTION).count() == 40
    assert "OK" in reconcile_output()


def test_one_job_captured_from_many_threads_at_once_is_charged_exactly_once(make_team):
    team, job_id = make_team(credits=10), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=3)

    results = run_in_threads(
        32, lambda index: credit_capture(team=team, job_id=job_id, credits=3)
    )
    assert {entry.transaction_id for entry in results} == {
        LedgerEntry.objects.get(job_id=job_id).transaction_id
    }
    assert assert_ledger_consistent(team).balance == 7
    assert "OK" in reconcile_output()


def test_capture_racing_release_settles_the_job_one_way_only(make_team):
    team = make_team(credits=100)
    jobs = [uuid.uuid4() for _ in range(16)]
    for job_id in jobs:
        credit_reserve(team=team, job_id=job_id, credits=2)

    def settle(index: int):
        job_id = jobs[index // 2]
        if index % 2:
            return credit_release(team=team, job_id=job_id)
        try:
            return credit_capture(team=team, job_id=job_id, credits=2)
        except JobClosed as error:
            return error

    results = run_in_threads(2 * len(jobs), settle)
    assert all(
        isinstance(r, LedgerEntry | CreditHold | JobClosed | None) for r in results
    )
    for job_id in jobs:
        hold = CreditHold.objects.get(job_id=job_id)
        charges = LedgerEntry.objects.filter(job_id=job_id).count()
        assert (hold.status, charges) in {
            (HoldStatus.CAPTURED, 1),
            (HoldStatus.RELEASED, 0),
        }
    charged = LedgerEntry.objects.filter(job_id__in=jobs).count()
    account = assert_ledger_consistent(team)
    assert (account.balance, account.credits_reserved) == (100 - 2 * charged, 0)


def test_reserves_and_captures_of_one_job_from_many_threads_do_not_deadlock(make_team):
    team, job_id = make_team(credits=100), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1)

    def reserve_or_capture(index: int):
        if index % 2:
            return credit_capture(team=team, job_id=job_id, credits=1)
        try:
            return credit_reserve(team=team, job_id=job_id, credits=1)
        except JobClosed as error:
            return error

    results = run_in_threads(16, reserve_or_capture)
    assert not [
        r for r in results if isinstance(r, Exception) and not isinstance(r, JobClosed)
    ]
    account = assert_ledger_consistent(team)
    assert (account.balance, account.credits_reserved) == (99, 0)


def test_one_idempotency_key_sent_from_many_threads_adds_credits_once(make_team):
    team = make_team(credits=1)

    def add(index: int) -> int:
        client = APIClient(HTTP_X_ADMIN_KEY=settings.MASTER_KEY)
        response = client.post(
            f"/api/credits/teams/{team.team_id}/add",
            {"credits": 10},
            format="json",
            HTTP_IDEMPOTENCY_KEY="one-payment",
        )
        return response.status_code

    statuses = Counter(run_in_threads(16, add))
    assert set(statuses) <= {HTTPStatus.CREATED, HTTPStatus.CONFLICT}
    assert statuses[HTTPStatus.CREATED] >= 1
    assert assert_ledger_consistent(team).balance == 11
