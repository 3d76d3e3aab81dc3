"""Reconciliation in one set-based pass: checkpoints (each run verifies only the
entries written since the last), chain breaks found, and no row lock taken."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from credits.models import CreditAccount, EntryType, LedgerEntry, ReconcileCheckpoint
from credits.services import credit_add, credits_reconcile

pytestmark = pytest.mark.django_db


def checkpoint_of(team) -> ReconcileCheckpoint:
    account = CreditAccount.objects.get(team=team)
    return ReconcileCheckpoint.objects.get(account_id=account.pk)


def test_a_run_checkpoints_each_account_and_the_next_continues_from_there(make_team):
    team = make_team(credits=50)
    assert credits_reconcile() == {}
    first = checkpoint_of(team)
    assert (first.balance, first.credited, first.used) == (50, 50, 0)
    entry = credit_add(team=team, credits=7, actor="tests")
    assert credits_reconcile() == {}
    second = checkpoint_of(team)
    assert (second.entry_id, second.balance, second.credited) == (entry.id, 57, 57)
    assert credits_reconcile(full=True) == {}


def test_a_broken_chain_is_found_and_the_checkpoint_stays(make_team):
    team = make_team(credits=50)
    credits_reconcile()
    before = checkpoint_of(team).entry_id
    account = CreditAccount.objects.get(team=team)
    # A write that bypasses the services: the entry does not continue the chain.
    broken = LedgerEntry.objects.create(
        account=account,
        entry_type=EntryType.ADJUSTMENT,
        amount=5,
        balance_before=40,
        balance_after=45,
    )
    (problems,) = credits_reconcile().values()
    assert any(f"entry {broken.id}: the balance chain breaks" in p for p in problems)
    assert checkpoint_of(team).entry_id == before
    assert credits_reconcile(full=True)  # a full run finds it too


def test_a_checkpoint_is_no_excuse_for_totals_that_moved(make_team):
    team = make_team(credits=50)
    credits_reconcile()
    CreditAccount.objects.filter(team=team).update(credits_used=3)  # no entry
    (problems,) = credits_reconcile().values()
    assert "credits_used 3 != deductions minus refunds 0" in problems


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reconciliation_does_not_wait_for_a_locked_account(make_team):
    """A request holding the team's account row (as every reservation does) does not
    hold reconciliation up: it reads a snapshot and takes no lock."""
    team = make_team(credits=50)
    locked, release = threading.Event(), threading.Event()
    released_at: list[float] = []

    def hold_the_account() -> None:
        try:
            with transaction.atomic():
                CreditAccount.objects.select_for_update().get(team=team)
                locked.set()
                release.wait(timeout=10)
                released_at.append(time.monotonic())
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_account)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        report = credits_reconcile()
        finished_at = time.monotonic()
    finally:
        release.set()
        holder.join()
    assert report == {}
    assert finished_at < released_at[0]


def test_the_command_reads_every_entry_again_with_full(make_team):
    make_team(credits=50)
    out = io.StringIO()
    call_command("reconcile_credits", "--full", stdout=out)
    assert "OK: 1 account(s) reconcile." in out.getvalue()
    assert ReconcileCheckpoint.objects.count() == 1
