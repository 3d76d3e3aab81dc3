from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from credits.models import CreditAccount
from credits.services import credit_capture, credit_refund, credit_reserve

pytestmark = pytest.mark.django_db


def reconcile() -> str:
    out = StringIO()
    call_command("reconcile_credits", stdout=out)
    return out.getvalue()


def test_a_clean_ledger_reconciles(make_team):
    team = make_team(credits=50)
    make_team(credits=7)
    job_id = uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=5)
    credit_capture(team=team, job_id=job_id, credits=4)
    credit_refund(team=team, job_id=job_id, credits=1)
    credit_reserve(team=team, job_id=uuid.uuid4(), credits=3)
    assert reconcile().strip() == "OK: 2 account(s) reconcile."


def test_a_balance_that_disagrees_with_its_entries_fails_with_a_report(make_team):
    team = make_team(credits=50)
    # Simulated corruption: a write that bypasses the services.
    CreditAccount.objects.filter(team=team).update(credits_allocated=80)
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 account"):
        call_command("reconcile_credits", stdout=out)
    report = out.getvalue()
    assert f"team {team.team_id}:" in report
    assert "balance 80 != sum of entries 50" in report


def test_a_reservation_without_a_hold_fails_the_check(make_team):
    team = make_team(credits=50)
    CreditAccount.objects.filter(team=team).update(credits_reserved=5)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_credits", stdout=out)
    assert "credits_reserved 5 != open holds 0" in out.getvalue()


def test_used_credits_without_deductions_fail_the_check(make_team):
    team = make_team(credits=50)
    CreditAccount.objects.filter(team=team).update(credits_used=3)
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_credits", stdout=out)
    assert "credits_used 3 != deductions minus refunds 0" in out.getvalue()


def test_the_command_exits_with_status_1_when_anything_is_off(make_team, capsys):
    team = make_team(credits=5)
    CreditAccount.objects.filter(team=team).update(credits_allocated=6)
    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "reconcile_credits"]).execute()
    assert exit_info.value.code == 1
    assert "do not reconcile" in capsys.readouterr().err
