from __future__ import annotations

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from credits.models import CreditHold, HoldStatus
from credits.services import credit_reserve, holds_expire
from credits.tests.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_only_holds_past_their_expiry_are_released(make_team):
    team = make_team(credits=10)
    stale, fresh = uuid.uuid4(), uuid.uuid4()
    credit_reserve(team=team, job_id=stale, credits=3, ttl=timedelta(seconds=1))
    credit_reserve(team=team, job_id=fresh, credits=2, ttl=timedelta(hours=1))
    assert holds_expire(now=timezone.now() + timedelta(minutes=1)) == 1
    assert CreditHold.objects.get(job_id=stale).status == HoldStatus.EXPIRED
    assert CreditHold.objects.get(job_id=fresh).status == HoldStatus.OPEN
    assert assert_ledger_consistent(team).credits_reserved == 2


def test_reserving_more_pushes_a_holds_expiry_back(make_team):
    team, job_id = make_team(credits=10), uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=1, ttl=timedelta(seconds=1))
    credit_reserve(team=team, job_id=job_id, credits=1, ttl=timedelta(hours=1))
    assert holds_expire(now=timezone.now() + timedelta(minutes=1)) == 0


def test_expire_holds_command_prints_how_many_it_released(make_team):
    team = make_team(credits=10)
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=4, ttl=timedelta(0, 0, 1))
    out = StringIO()
    call_command("expire_holds", stdout=out)
    assert out.getvalue().strip() == "Released 1 expired hold(s)."
    assert assert_ledger_consistent(team).credits_remaining == 10
