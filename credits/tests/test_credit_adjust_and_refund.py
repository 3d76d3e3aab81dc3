from __future__ import annotations

import uuid

import pytest

from credits.models import EntryType
from credits.services import (
    credit_adjust,
    credit_capture,
    credit_refund,
    credit_reserve,
)
from credits.tests.invariants import assert_ledger_consistent
from saas_litellm.exceptions import InvalidInput, NotFound

pytestmark = pytest.mark.django_db


def charged_team(make_team, credits=20, charge=6):
    team, job_id = make_team(credits=credits), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=charge)
    credit_capture(team=team, job_id=job_id, credits=charge)
    return team, job_id


def test_a_negative_adjustment_takes_credits_away(make_team):
    team = make_team(credits=20)
    entry = credit_adjust(team=team, credits=-5, reason="goodwill reversed")
    assert (entry.entry_type, entry.amount, entry.balance_after) == (
        EntryType.ADJUSTMENT,
        -5,
        15,
    )
    assert assert_ledger_consistent(team).credits_allocated == 15


def test_an_adjustment_never_takes_away_reserved_credits(make_team):
    team = make_team(credits=20)
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=15)
    with pytest.raises(InvalidInput, match="only 5 are neither used nor reserved"):
        credit_adjust(team=team, credits=-6, reason="too much")
    assert assert_ledger_consistent(team).balance == 20


def test_an_adjustment_needs_a_reason_and_a_non_zero_amount(make_team):
    team = make_team(credits=20)
    with pytest.raises(InvalidInput):
        credit_adjust(team=team, credits=5, reason=" ")
    with pytest.raises(InvalidInput):
        credit_adjust(team=team, credits=0, reason="nothing")
    assert assert_ledger_consistent(team).entries.count() == 1


def test_a_positive_adjustment_adds_credits(make_team):
    team = make_team(credits=20)
    credit_adjust(team=team, credits=3, reason="service credit")
    assert assert_ledger_consistent(team).balance == 23


def test_a_whole_refund_gives_back_the_jobs_charge(make_team):
    team, job_id = charged_team(make_team)
    entry = credit_refund(team=team, job_id=job_id, reason="bad answer")
    assert (entry.entry_type, entry.amount, entry.job_id) == (
        EntryType.REFUND,
        6,
        job_id,
    )
    account = assert_ledger_consistent(team)
    assert (account.credits_used, account.balance) == (0, 20)


def test_partial_refunds_never_add_up_to_more_than_the_charge(make_team):
    team, job_id = charged_team(make_team)
    credit_refund(team=team, job_id=job_id, credits=4)
    with pytest.raises(InvalidInput, match="2 of 6 credits left"):
        credit_refund(team=team, job_id=job_id, credits=3)
    credit_refund(team=team, job_id=job_id)
    with pytest.raises(InvalidInput):
        credit_refund(team=team, job_id=job_id)
    assert assert_ledger_consistent(team).credits_used == 0


def test_a_job_that_was_never_charged_cannot_be_refunded(make_team):
    team = make_team(credits=20)
    with pytest.raises(NotFound):
        credit_refund(team=team, job_id=uuid.uuid4())


def test_another_teams_job_cannot_be_refunded(make_team):
    _, job_id = charged_team(make_team)
    stranger = make_team(credits=1)
    with pytest.raises(NotFound):
        credit_refund(team=stranger, job_id=job_id)


def test_a_refund_with_an_idempotency_key_is_given_once(make_team):
    team, job_id = charged_team(make_team)
    credit_refund(team=team, job_id=job_id, credits=2, idempotency_key="r-1")
    credit_refund(team=team, job_id=job_id, credits=2, idempotency_key="r-1")
    assert assert_ledger_consistent(team).credits_used == 4
