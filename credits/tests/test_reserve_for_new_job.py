"""credit_reserve_for_new_job: the reservation of a job created in the same
transaction, in two statements sent without waiting, with the guarantees of
credit_reserve; its refusals are the database's, read by credit_reserve_refusals."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, transaction

from credits.models import CreditAccount, CreditHold, HoldStatus
from credits.services import (
    credit_capture,
    credit_reserve_for_new_job,
    credit_reserve_refusals,
)
from credits.tests.invariants import assert_ledger_consistent
from saas_litellm import sql
from saas_litellm.exceptions import InsufficientCredits, TeamPaused, TeamSuspended
from teams.models import TeamStatus

pytestmark = pytest.mark.django_db


def reserve(team, job_id: uuid.UUID, credits: int) -> None:
    """As a one-call job's start reserves: in a pipeline, its refusals read."""
    with credit_reserve_refusals(team=team), sql.pipelined(), transaction.atomic():
        credit_reserve_for_new_job(team=team, job_id=job_id, credits=credits)


def test_a_new_jobs_reservation_opens_its_hold(make_team):
    team = make_team(credits=10)
    job_id = uuid.uuid4()
    with transaction.atomic():
        credit_reserve_for_new_job(team=team, job_id=job_id, credits=4)
    hold = CreditHold.objects.get(job_id=job_id)
    assert (hold.status, hold.amount) == (HoldStatus.OPEN, 4)
    assert hold.account == CreditAccount.objects.get(team=team)
    assert CreditAccount.objects.get(team=team).credits_remaining == 6
    credit_capture(team=team, job_id=job_id, credits=3)
    assert CreditAccount.objects.get(team=team).credits_remaining == 7
    assert_ledger_consistent(team)


@pytest.mark.parametrize(
    ("status", "credits", "refusal"),
    [
        (TeamStatus.ACTIVE, 3, InsufficientCredits),
        (TeamStatus.SUSPENDED, 10, TeamSuspended),
        (TeamStatus.PAUSED, 10, TeamPaused),
    ],
)
def test_a_refused_reservation_for_a_new_job_writes_nothing(
    make_team, status, credits, refusal
):
    """Fewer credits than asked (4), or a status changed after the request read
    it (the hold then finds no account)."""
    team = make_team(credits=credits)
    type(team).objects.filter(pk=team.pk).update(status=status)
    job_id = uuid.uuid4()
    with pytest.raises(refusal):
        reserve(team, job_id, 4)
    assert not CreditHold.objects.filter(job_id=job_id).exists()
    assert CreditAccount.objects.get(team=team).credits_remaining == credits


def test_a_team_without_an_account_cannot_reserve_for_a_new_job(make_team):
    team = make_team(credits=0)
    CreditAccount.objects.filter(team=team, credits_allocated=0).delete()
    with pytest.raises(InsufficientCredits):
        reserve(team, uuid.uuid4(), 1)


def test_other_integrity_errors_are_not_taken_for_refusals(make_team):
    team = make_team(credits=10)
    job_id = uuid.uuid4()
    reserve(team, job_id, 4)
    with pytest.raises(IntegrityError):
        reserve(team, job_id, 1)  # the same job twice
    assert CreditAccount.objects.get(team=team).credits_remaining == 6
