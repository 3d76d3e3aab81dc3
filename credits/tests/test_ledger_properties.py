"""Random sequences of allocate / reserve / capture / release / expire / refund /
adjust on the real database, checked against a simple model after every step."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from credits.models import CreditHold, HoldStatus
from credits.services import (
    credit_account_get,
    credit_add,
    credit_adjust,
    credit_capture,
    credit_refund,
    credit_release,
    credit_reserve,
    holds_expire,
)
from credits.tests.invariants import assert_ledger_consistent
from saas_litellm.exceptions import (
    InsufficientCredits,
    InvalidInput,
    JobClosed,
    NotFound,
)

amounts = st.integers(min_value=1, max_value=30)


class LedgerMachine(RuleBasedStateMachine):
    """The model: allocated, used, and each job's hold (amount, status, expiry)."""

    jobs = Bundle("jobs")

    def __init__(self, make_team) -> None:
        super().__init__()
        self.team = make_team()
        credit_account_get(team=self.team)
        self.allocated = 0
        self.used = 0
        self.holds: dict[uuid.UUID, dict] = {}
        self.charged: dict[uuid.UUID, int] = {}
        self.refunded: dict[uuid.UUID, int] = {}

    @property
    def reserved(self) -> int:
        return sum(h["amount"] for h in self.holds.values() if h["status"] == "open")

    @property
    def available(self) -> int:
        return self.allocated - self.used - self.reserved

    @initialize(target=jobs)
    def first_job(self) -> uuid.UUID:
        return uuid.uuid4()

    @rule(target=jobs)
    def new_job(self) -> uuid.UUID:
        return uuid.uuid4()

    @rule(credits=amounts)
    def allocate(self, credits: int) -> None:
        credit_add(team=self.team, credits=credits)
        self.allocated += credits

    @rule(job_id=jobs, credits=amounts, ttl_seconds=st.sampled_from([1, 3600]))
    def reserve(self, job_id: uuid.UUID, credits: int, ttl_seconds: int) -> None:
        hold = self.holds.get(job_id)
        settled = hold is not None and hold["status"] in ("captured", "released")
        try:
            created = credit_reserve(
                team=self.team,
                job_id=job_id,
                credits=credits,
                ttl=timedelta(seconds=ttl_seconds),
            )
        except JobClosed:
            assert settled
            return
        except InsufficientCredits:
            # Checked before the job's hold: a settled job may get this answer too.
            assert credits > self.available
            return
        assert not settled
        assert credits <= self.available
        if hold is None or hold["status"] == "expired":
            hold = self.holds[job_id] = {"amount": 0, "status": "open"}
        hold["amount"] += credits
        hold["expires_at"] = created.expires_at
        assert created.amount == hold["amount"]

    @rule(job_id=jobs, credits=st.integers(min_value=0, max_value=40))
    def capture(self, job_id: uuid.UUID, credits: int) -> None:
        hold = self.holds.get(job_id)
        try:
            entry = credit_capture(team=self.team, job_id=job_id, credits=credits)
        except JobClosed:
            assert hold is not None
            assert hold["status"] == "released"
            return
        if hold is not None and hold["status"] == "captured":
            assert (entry.amount if entry else 0) == -self.charged.get(job_id, 0)
            return
        held = hold["amount"] if hold and hold["status"] == "open" else 0
        charge = min(credits, held + self.available)
        self.holds[job_id] = {"amount": held, "status": "captured"}
        self.used += charge
        if charge:
            self.charged[job_id] = charge
        assert (entry.amount if entry else 0) == -charge

    @rule(job_id=jobs)
    def release(self, job_id: uuid.UUID) -> None:
        hold = self.holds.get(job_id)
        released = credit_release(team=self.team, job_id=job_id)
        if hold is not None and hold["status"] == "open":
            assert released is not None
            hold["status"] = "released"
        else:
            assert released is None

    @rule(seconds_ahead=st.sampled_from([0, 2, 7200]))
    def expire(self, seconds_ahead: int) -> None:
        now = timezone.now() + timedelta(seconds=seconds_ahead)
        holds_expire(now=now)
        for hold in self.holds.values():
            if hold["status"] == "open" and hold["expires_at"] <= now:
                hold["status"] = "expired"

    @rule(job_id=jobs, credits=st.none() | amounts)
    def refund(self, job_id: uuid.UUID, credits: int | None) -> None:
        refundable = self.charged.get(job_id, 0) - self.refunded.get(job_id, 0)
        try:
            entry = credit_refund(team=self.team, job_id=job_id, credits=credits)
        except NotFound:
            assert job_id not in self.charged
            return
        except InvalidInput:
            assert refundable == 0 or (credits or 0) > refundable
            return
        given = refundable if credits is None else credits
        assert 0 < given <= refundable
        assert entry.amount == given
        self.refunded[job_id] = self.refunded.get(job_id, 0) + given
        self.used -= given

    @rule(credits=st.integers(min_value=-40, max_value=40).filter(bool))
    def adjust(self, credits: int) -> None:
        try:
            credit_adjust(team=self.team, credits=credits, reason="property test")
        except InvalidInput:
            assert -credits > self.available
            return
        assert credits > 0 or -credits <= self.available
        self.allocated += credits

    @invariant()
    def matches_the_model_and_reconciles(self) -> None:
        account = assert_ledger_consistent(self.team)
        assert account.credits_allocated == self.allocated
        assert account.credits_used == self.used
        assert account.credits_reserved == self.reserved
        assert account.credits_remaining == self.available >= 0
        for job_id, hold in self.holds.items():
            stored = CreditHold.objects.get(job_id=job_id)
            assert stored.status == HoldStatus(hold["status"])


@pytest.mark.django_db
def test_random_sequences_of_ledger_operations_keep_every_invariant(make_team):
    run_state_machine_as_test(
        lambda: LedgerMachine(make_team),
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
