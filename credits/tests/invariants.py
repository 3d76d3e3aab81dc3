"""The ledger invariants, checked straight from the database."""

from __future__ import annotations

from django.db.models import Sum

from credits.models import CreditAccount, HoldStatus
from credits.services import credit_account_problems
from teams.models import Team


def assert_ledger_consistent(team: Team) -> CreditAccount:
    """balance = Σ entries, reserved = Σ open holds, available ≥ 0, chain intact."""
    account = CreditAccount.objects.get(team=team)
    entries_total = account.entries.aggregate(total=Sum("amount"))["total"] or 0
    open_holds = (
        account.holds.filter(status=HoldStatus.OPEN).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )
    assert account.balance == entries_total
    assert account.credits_reserved == open_holds
    assert account.credits_remaining >= 0
    assert credit_account_problems(account=account) == []
    return account
