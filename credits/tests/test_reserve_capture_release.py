from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from credits.models import CreditHold, EntryType, HoldStatus, LedgerEntry
from credits.services import (
    credit_add,
    credit_capture,
    credit_release,
    credit_reserve,
    holds_expire,
)
from credits.tests.invariants import assert_ledger_consistent
from saas_litellm.exceptions import (
    Conflict,
    InsufficientCredits,
    InvalidInput,
    JobClosed,
)

pytestmark = pytest.mark.django_db


def test_a_reservation_takes_credits_out_of_what_is_available(make_team):
    team = make_team(credits=10)
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=4)
    account = assert_ledger_consistent(team)
    assert (account.balance, account.credits_reserved, account.credits_remaining) == (
        10,
        4,
        6,
    )


def test_a_reservation_beyond_what_is_available_is_refused_and_changes_nothing(
    make_team,
):
    team = make_team(credits=3)
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=2)
    with pytest.raises(InsufficientCredits):
        credit_reserve(team=team, job_id=uuid.uuid4(), credits=2)
    assert assert_ledger_consistent(team).credits_reserved == 2


def test_a_team_without_an_account_cannot_reserve(make_team):
    with pytest.raises(InsufficientCredits):
        credit_reserve(team=make_team(), job_id=uuid.uuid4(), credits=1)


def test_reserving_again_for_a_job_grows_its_hold(make_team):
    team, job_id = make_team(credits=10), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1)
    hold = credit_reserve(team=team, job_id=job_id, credits=3)
    assert hold.amount == 4
    assert CreditHold.objects.filter(job_id=job_id).count() == 1


def test_capture_turns_the_hold_into_one_deduction(make_team):
    team, job_id = make_team(credits=10), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=3)
    entry = credit_capture(team=team, job_id=job_id, credits=2)
    assert (entry.entry_type, entry.amount, entry.balance_after) == (
        EntryType.DEDUCTION,
        -2,
        8,
    )
    account = assert_ledger_consistent(team)
    assert (account.credits_reserved, account.credits_remaining) == (0, 8)


def test_a_second_capture_returns_the_first_deduction_and_charges_nothing(make_team):
    team, job_id = make_team(credits=10), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1)
    first = credit_capture(team=team, job_id=job_id, credits=1)
    again = credit_capture(team=team, job_id=job_id, credits=5)
    assert again.transaction_id == first.transaction_id
    assert assert_ledger_consistent(team).balance == 9


def test_a_charge_above_the_hold_is_capped_at_what_the_team_has(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    entry = credit_capture(team=team, job_id=job_id, credits=50)
    assert entry.amount == -5
    assert assert_ledger_consistent(team).balance == 0


def test_a_zero_charge_closes_the_hold_without_an_entry(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    assert credit_capture(team=team, job_id=job_id, credits=0) is None
    assert credit_capture(team=team, job_id=job_id, credits=3) is None
    assert assert_ledger_consistent(team).credits_remaining == 5


def test_a_job_charged_without_a_reservation_is_still_charged_once(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_capture(team=team, job_id=job_id, credits=2)
    credit_capture(team=team, job_id=job_id, credits=2)
    assert assert_ledger_consistent(team).balance == 3
    with pytest.raises(JobClosed):
        credit_reserve(team=team, job_id=job_id, credits=1)


def test_release_gives_the_hold_back_and_writes_no_entry(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    hold = credit_release(team=team, job_id=job_id)
    assert hold.status == HoldStatus.RELEASED
    assert assert_ledger_consistent(team).credits_remaining == 5
    assert not LedgerEntry.objects.filter(job_id=job_id).exists()


def test_a_released_job_cannot_be_charged_afterwards(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    credit_release(team=team, job_id=job_id)
    with pytest.raises(JobClosed):
        credit_capture(team=team, job_id=job_id, credits=1)
    assert assert_ledger_consistent(team).balance == 5


def test_releasing_a_captured_hold_does_nothing(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    credit_capture(team=team, job_id=job_id, credits=2)
    assert credit_release(team=team, job_id=job_id) is None
    assert assert_ledger_consistent(team).balance == 3


def test_a_settled_job_cannot_reserve_again(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1)
    credit_release(team=team, job_id=job_id)
    with pytest.raises(JobClosed):
        credit_reserve(team=team, job_id=job_id, credits=1)
    assert assert_ledger_consistent(team).credits_reserved == 0


def test_a_job_whose_hold_expired_is_still_billed_from_what_is_available(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2, ttl=timedelta(seconds=1))
    holds_expire(now=timezone.now() + timedelta(seconds=5))
    entry = credit_capture(team=team, job_id=job_id, credits=3)
    assert entry.amount == -3
    assert CreditHold.objects.get(job_id=job_id).status == HoldStatus.CAPTURED
    assert assert_ledger_consistent(team).balance == 2


def test_a_job_whose_hold_expired_gets_a_fresh_hold_when_it_reserves_again(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2, ttl=timedelta(seconds=1))
    holds_expire(now=timezone.now() + timedelta(seconds=5))
    hold = credit_reserve(team=team, job_id=job_id, credits=1)
    assert (hold.status, hold.amount) == (HoldStatus.OPEN, 1)
    assert assert_ledger_consistent(team).credits_reserved == 1


@pytest.mark.parametrize("credits", [0, -1, True, 1.0, "1", 10**13])
def test_reserve_refuses_amounts_that_are_not_positive_whole_numbers(
    make_team, credits
):
    team = make_team(credits=5)
    with pytest.raises(InvalidInput):
        credit_reserve(team=team, job_id=uuid.uuid4(), credits=credits)
    assert assert_ledger_consistent(team).credits_reserved == 0


@pytest.mark.parametrize("credits", [0, -5, False, 2.5, "3", 10**13])
def test_add_refuses_amounts_that_are_not_positive_whole_numbers(make_team, credits):
    team = make_team(credits=5)
    with pytest.raises(InvalidInput):
        credit_add(team=team, credits=credits)
    assert team.credit_account.entries.count() == 1


def test_capture_refuses_a_negative_charge(make_team):
    team, job_id = make_team(credits=5), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1)
    with pytest.raises(InvalidInput):
        credit_capture(team=team, job_id=job_id, credits=-1)
    assert assert_ledger_consistent(team).credits_reserved == 1


def test_an_idempotency_key_adds_credits_once(make_team):
    team = make_team()
    first = credit_add(team=team, credits=7, idempotency_key="topup-1")
    again = credit_add(team=team, credits=7, idempotency_key="topup-1")
    assert again.transaction_id == first.transaction_id
    assert assert_ledger_consistent(team).balance == 7


def test_a_job_held_by_another_team_is_neither_reserved_nor_charged_here(make_team):
    owner, stranger, job_id = make_team(credits=5), make_team(credits=5), uuid.uuid4()
    credit_reserve(team=owner, job_id=job_id, credits=2)
    with pytest.raises(Conflict):
        credit_reserve(team=stranger, job_id=job_id, credits=1)
    with pytest.raises(Conflict):
        credit_capture(team=stranger, job_id=job_id, credits=1)
    assert credit_release(team=stranger, job_id=job_id) is None
    assert assert_ledger_consistent(stranger).credits_remaining == 5
    assert assert_ledger_consistent(owner).credits_reserved == 2
