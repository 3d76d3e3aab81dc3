"""Reconciliation: check that each account's totals agree with its ledger and holds.

Read-only: reports problems (a broken balance chain, totals that differ from the sums
of entries or open holds), never repairs them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from credits.models import BudgetSpend, CreditAccount, EntryType, HoldStatus
from credits.services.ledger import CREDIT_ENTRY_TYPES
from saas_litellm import sql


def credit_account_problems(*, account: CreditAccount) -> list[str]:
    """Everything wrong with one account; empty when it reconciles.

    Reads under the account lock, so a check never sees half of a concurrent change.
    """
    problems: list[str] = []
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update().get(pk=account.pk)
        sums = dict(
            account.entries.values_list("entry_type")
            .annotate(total=Sum("amount"))
            .values_list("entry_type", "total")
        )
        open_holds = (
            account.holds.filter(status=HoldStatus.OPEN).aggregate(total=Sum("amount"))[
                "total"
            ]
            or 0
        )
        chain = list(
            account.entries.order_by("id").values_list(
                "id", "balance_before", "amount", "balance_after"
            )
        )
        budget_periods = _budget_periods(account)
    credited = sum(sums.get(kind, 0) for kind in CREDIT_ENTRY_TYPES)
    used = -sums.get(EntryType.DEDUCTION, 0) - sums.get(EntryType.REFUND, 0)
    total = sum(sums.values())
    if account.balance != total:
        problems.append(
            f"balance {account.balance} != sum of entries {total} "
            f"(allocated {account.credits_allocated} - used {account.credits_used})"
        )
    if account.credits_allocated != credited:
        problems.append(
            f"credits_allocated {account.credits_allocated} != allocations, "
            f"replenishments and adjustments {credited}"
        )
    if account.credits_used != used:
        problems.append(
            f"credits_used {account.credits_used} != deductions minus refunds {used}"
        )
    if account.credits_reserved != open_holds:
        problems.append(
            f"credits_reserved {account.credits_reserved} != open holds {open_holds}"
        )
    if account.credits_remaining < 0:
        problems.append(f"available credits are negative: {account.credits_remaining}")
    expected_before = 0
    for entry_id, before, amount, after in chain:
        if before != expected_before or after != before + amount:
            problems.append(
                f"entry {entry_id}: before/after {before}/{after} breaks the chain "
                f"(expected before {expected_before})"
            )
            break
        expected_before = after
    # Closed holds go after CALL_RETENTION_DAYS (usage.services.retention): the
    # deductions of a period that started before then can no longer be summed.
    complete_after = timezone.now() - timedelta(days=settings.CALL_RETENTION_DAYS)
    for spend_id, period_start, used, reserved, charged, held in budget_periods:
        if reserved != held:
            problems.append(
                f"budget period {spend_id}: reserved {reserved} != open holds {held}"
            )
        if (
            used != charged
            and sql.read(BudgetSpend, "period_start", period_start) >= complete_after
        ):
            problems.append(
                f"budget period {spend_id}: used {used} != its jobs' deductions"
                f" {charged}"
            )
    return problems


def _budget_periods(account: CreditAccount) -> list[tuple[Any, ...]]:
    """Per key or end-user budget period of the account's team: what it counts as
    used and reserved, and what its jobs' deductions and open holds add up to."""
    return sql.rows(
        "SELECT s.id, s.period_start, s.used, s.reserved,"
        " COALESCE((SELECT -SUM(e.amount) FROM credits_credithold h"
        " JOIN credits_ledgerentry e ON e.job_id = h.job_id AND e.entry_type = %s"
        " WHERE h.account_id = %s AND h.status = %s"
        " AND (h.key_spend_id = s.id OR h.user_spend_id = s.id)), 0),"
        " COALESCE((SELECT SUM(h.amount) FROM credits_credithold h"
        " WHERE h.account_id = %s AND h.status = %s"
        " AND (h.key_spend_id = s.id OR h.user_spend_id = s.id)), 0)"
        " FROM credits_budgetspend s JOIN credits_budget b ON b.id = s.budget_id"
        " WHERE b.team_id = %s ORDER BY s.id",
        [
            EntryType.DEDUCTION.value,
            account.pk,
            HoldStatus.CAPTURED.value,
            account.pk,
            HoldStatus.OPEN.value,
            account.team_id,
        ],
    )


def credits_reconcile() -> dict[str, list[str]]:
    """Check every account; maps team_id to its problems (only accounts with some)."""
    report: dict[str, list[str]] = {}
    for account in CreditAccount.objects.select_related("team").order_by(
        "team__team_id"
    ):
        problems = credit_account_problems(account=account)
        if problems:
            report[account.team.team_id] = problems
    return report
