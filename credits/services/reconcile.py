"""Reconciliation: check that each account's totals agree with its ledger and holds.

Read-only for the accounts: reports problems (a broken balance chain, totals that
differ from the sums of entries or open holds, a key's or end user's budget period
that does not add up), never repairs them.

One set-based pass, without row locks: a handful of statements over all accounts,
read in one snapshot (REPEATABLE READ on PostgreSQL), so every change is seen
whole or not at all (a change writes its account row and its entries in one
transaction) while the teams' requests go on. The ledger is append-only, so what
was verified stays verified: a checkpoint per account (ReconcileCheckpoint: the
last entry verified, the balance after it and the running sums) lets each run read
only the entries written since. `full=True` ignores the checkpoints. A checkpoint
moves only past entries that reconciled.

Entries of one account get increasing ids in the order they were written (each is
inserted under the account's row lock), so the chain is checked in id order, and
the entries one snapshot sees of an account are always a prefix of its chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from credits.models import (
    BudgetSpend,
    CreditAccount,
    EntryType,
    HoldStatus,
    ReconcileCheckpoint,
)
from credits.services.ledger import CREDIT_ENTRY_TYPES
from saas_litellm import sql

# Rows per checkpoint upsert: each holds its rows' locks until it commits (1 000 took
# up to 50 ms on a slow machine; no request waits on them, but none should be long).
CHECKPOINTS_PER_WRITE = 250


@dataclass
class _Sums:
    """Running sums of an account's verified entries."""

    entry_id: int = 0
    balance: int = 0
    credited: int = 0
    used: int = 0


def _in_list(values: list[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)  # our own enum values


def _new_entries(full: bool, account_id: int | None) -> dict[int, dict[str, Any]]:
    """Per account, the entries after its checkpoint: the first and last id, the
    sums, the first entry's balance_before, the last one's balance_after and the
    first entry that breaks the chain (None: none)."""
    credit = _in_list([str(kind) for kind in CREDIT_ENTRY_TYPES])
    usage = _in_list([EntryType.DEDUCTION.value, EntryType.REFUND.value])
    # The IN lists are our own enum values, not input.
    rows = sql.rows(
        "WITH new AS ("  # noqa: S608
        " SELECT e.account_id, e.id, e.entry_type, e.amount, e.balance_before,"
        " e.balance_after, LAG(e.balance_after) OVER"
        " (PARTITION BY e.account_id ORDER BY e.id) AS previous_after,"
        " ROW_NUMBER() OVER (PARTITION BY e.account_id ORDER BY e.id DESC) AS from_end"
        " FROM credits_ledgerentry e LEFT JOIN credits_reconcilecheckpoint c"
        " ON c.account_id = e.account_id"
        " WHERE e.id > CASE WHEN %s THEN 0 ELSE COALESCE(c.entry_id, 0) END"
        " AND e.account_id = COALESCE(%s, e.account_id))"
        " SELECT account_id, MIN(id), MAX(id),"
        f" SUM(CASE WHEN entry_type IN ({credit}) THEN amount ELSE 0 END),"
        f" SUM(CASE WHEN entry_type IN ({usage}) THEN -amount ELSE 0 END),"
        " MAX(CASE WHEN previous_after IS NULL THEN balance_before END),"
        " MAX(CASE WHEN from_end = 1 THEN balance_after END),"
        " MIN(CASE WHEN balance_after <> balance_before + amount"
        " OR balance_before <> previous_after THEN id END)"
        " FROM new GROUP BY account_id",
        [full, account_id],
    )
    return {
        row[0]: dict(
            zip(
                ("first_id", "last_id", "credited", "used", "first_before",
                 "last_after", "broken_at"),
                row[1:],
                strict=True,
            )
        )
        for row in rows
    }  # fmt: skip


def _checkpoints(full: bool, account_id: int | None) -> dict[int, _Sums]:
    if full:
        return {}
    checkpoints = ReconcileCheckpoint.objects.all()
    if account_id is not None:
        checkpoints = checkpoints.filter(account_id=account_id)
    return {
        c.account_id: _Sums(c.entry_id, c.balance, c.credited, c.used)
        for c in checkpoints
    }


def _accounts(account_id: int | None) -> list[tuple[Any, ...]]:
    """Each account with its team id and the sum of its open holds."""
    return sql.rows(
        "SELECT a.id, t.team_id, a.credits_allocated, a.credits_used,"
        " a.credits_reserved, COALESCE(h.held, 0)"
        " FROM credits_creditaccount a JOIN teams_team t ON t.id = a.team_id"
        " LEFT JOIN (SELECT account_id, SUM(amount) AS held FROM credits_credithold"
        " WHERE status = %s GROUP BY account_id) h ON h.account_id = a.id"
        " WHERE a.id = COALESCE(%s, a.id) ORDER BY t.team_id",
        [HoldStatus.OPEN.value, account_id],
    )


def _budget_periods(account_id: int | None) -> dict[int, list[tuple[Any, ...]]]:
    """Per account, its key and end-user budget periods: each one's id, start, what
    it counts as used and reserved, and its jobs' deductions and open holds."""
    rows = sql.rows(
        "WITH links AS ("
        " SELECT key_spend_id AS spend_id, job_id, status, amount"
        " FROM credits_credithold WHERE key_spend_id IS NOT NULL"
        " UNION ALL SELECT user_spend_id, job_id, status, amount"
        " FROM credits_credithold WHERE user_spend_id IS NOT NULL)"
        " SELECT a.id, s.id, s.period_start, s.used, s.reserved,"
        " COALESCE(SUM(CASE WHEN l.status = %s THEN -e.amount ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN l.status = %s THEN l.amount ELSE 0 END), 0)"
        " FROM credits_budgetspend s JOIN credits_budget b ON b.id = s.budget_id"
        " JOIN credits_creditaccount a ON a.team_id = b.team_id"
        " LEFT JOIN links l ON l.spend_id = s.id"
        " LEFT JOIN credits_ledgerentry e ON e.job_id = l.job_id"
        " AND e.entry_type = %s"
        " WHERE a.id = COALESCE(%s, a.id)"
        " GROUP BY a.id, s.id, s.period_start, s.used, s.reserved",
        [
            HoldStatus.CAPTURED.value,
            HoldStatus.OPEN.value,
            EntryType.DEDUCTION.value,
            account_id,
        ],
    )
    periods: dict[int, list[tuple[Any, ...]]] = {}
    for account_pk, *period in rows:
        periods.setdefault(account_pk, []).append(tuple(period))
    return periods


def _snapshot() -> None:
    """One consistent view for the statements that follow (PostgreSQL: the first
    statement of the transaction; SQLite's transactions are one already)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def _reconcile(*, full: bool, account_id: int | None = None) -> dict[str, list[str]]:
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer:
            _snapshot()
        accounts = _accounts(account_id)
        entries = _new_entries(full, account_id)
        checkpoints = _checkpoints(full, account_id)
        periods = _budget_periods(account_id)
    report: dict[str, list[str]] = {}
    advanced: dict[int, _Sums] = {}
    for pk, team_id, allocated, used, reserved, held in accounts:
        problems: list[str] = []
        start = checkpoints.get(pk, _Sums())
        new = entries.get(pk)
        sums = start
        if new is not None:
            sums = _Sums(
                entry_id=new["last_id"],
                balance=new["last_after"],
                credited=start.credited + new["credited"],
                used=start.used + new["used"],
            )
            if new["first_before"] != start.balance:
                new["broken_at"] = new["first_id"]
            if new["broken_at"] is not None:
                problems.append(
                    f"entry {new['broken_at']}: the balance chain breaks (before/after"
                    " do not continue the previous entry)"
                )
        balance = allocated - used
        if balance != sums.balance:
            problems.append(
                f"balance {balance} != sum of entries {sums.balance} "
                f"(allocated {allocated} - used {used})"
            )
        if allocated != sums.credited:
            problems.append(
                f"credits_allocated {allocated} != allocations, "
                f"replenishments and adjustments {sums.credited}"
            )
        if used != sums.used:
            problems.append(
                f"credits_used {used} != deductions minus refunds {sums.used}"
            )
        if reserved != held:
            problems.append(f"credits_reserved {reserved} != open holds {held}")
        if allocated - used - reserved < 0:
            problems.append(
                f"available credits are negative: {allocated - used - reserved}"
            )
        problems.extend(_period_problems(periods.get(pk, [])))
        if problems:
            report[team_id] = problems
        elif new is not None:
            advanced[pk] = sums
    _checkpoints_save(advanced)
    return report


def _period_problems(periods: list[tuple[Any, ...]]) -> list[str]:
    # Closed holds go after CALL_RETENTION_DAYS (usage.services.retention): the
    # deductions of a period that started before then can no longer be summed.
    complete_after = timezone.now() - timedelta(days=settings.CALL_RETENTION_DAYS)
    problems = []
    for spend_id, period_start, used, reserved, charged, held in periods:
        if reserved != held:
            problems.append(
                f"budget period {spend_id}: reserved {reserved} != open holds {held}"
            )
        started = sql.read(BudgetSpend, "period_start", period_start)
        if used != charged and started >= complete_after:
            problems.append(
                f"budget period {spend_id}: used {used} != its jobs' deductions"
                f" {charged}"
            )
    return problems


def _checkpoints_save(advanced: dict[int, _Sums]) -> None:
    """Move the checkpoints of accounts that reconciled past their new entries:
    an upsert per CHECKPOINTS_PER_WRITE of them, each its own short transaction (no
    lock on anything the requests use; a concurrent run writes the same or a later
    checkpoint, and an older one only makes the next run read more)."""
    now = timezone.now()
    checkpoints = [
        ReconcileCheckpoint(
            account_id=account_pk,
            entry_id=sums.entry_id,
            balance=sums.balance,
            credited=sums.credited,
            used=sums.used,
            checked_at=now,
        )
        for account_pk, sums in advanced.items()
    ]
    for start in range(0, len(checkpoints), CHECKPOINTS_PER_WRITE):
        ReconcileCheckpoint.objects.bulk_create(
            checkpoints[start : start + CHECKPOINTS_PER_WRITE],
            update_conflicts=True,
            unique_fields=["account_id"],
            update_fields=["entry_id", "balance", "credited", "used", "checked_at"],
        )


def credit_account_problems(*, account: CreditAccount) -> list[str]:
    """Everything wrong with one account; empty when it reconciles."""
    return _reconcile(full=True, account_id=account.pk).get(account.team.team_id, [])


def credits_reconcile(*, full: bool = False) -> dict[str, list[str]]:
    """Check every account; maps team_id to its problems (only accounts with some).
    `full`: verify every entry again, not only those after the checkpoints."""
    return _reconcile(full=full)
