"""Signals sent by `credits.services` inside the transaction that changes a balance.

`credits` may not import the apps that react to a balance change (alerts): they
connect to these signals instead. Receivers run synchronously, in the sender's
transaction and under its lock of the account row, so whatever they write commits or
rolls back with the ledger entry, and an exception in a receiver aborts the change.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `_entry_write` after a ledger entry is inserted: kwargs `entry` (the new
# LedgerEntry) and `account` (the locked CreditAccount as the entry left it).
ledger_entry_written = Signal()

# Sent by `credits.services.budgets` when a job's charge is counted in a key's or an
# end user's budget: kwargs `budget_id`, `period_start` (the BudgetSpend's) and
# `used_before` / `used_after` (credits used in that period).
budget_spent = Signal()
