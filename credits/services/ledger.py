"""Credits in and out of a team's account outside a job's hold: the ledger's own rules.

Owns the account row (created on first use, locked by every change), the append-only
ledger entries with their running balance, idempotency keys, and the validation of a
credit amount that every other module of `credits.services` applies too. Allocations,
replenishments and operator adjustments add or take away credits; a refund gives back
part of a job's deduction. Each function locks the account row first and writes its
entry, and the audit log's record of the operator's change, in the same transaction:
the API and the dashboard cannot differ in what they record.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from credits.models import CreditAccount, EntryType, LedgerEntry
from credits.signals import ledger_entry_written
from saas_litellm import sql
from saas_litellm.exceptions import InvalidInput, NotFound
from teams.models import Team
from teams.services import audit_log_write

# One operation may move at most this many credits: far above any real top-up, far
# below the 64-bit columns, so sums of many operations cannot overflow either.
MAX_CREDITS_PER_OPERATION = 10**12
CREDIT_ENTRY_TYPES = (
    EntryType.ALLOCATION,
    EntryType.REPLENISHMENT,
    EntryType.ADJUSTMENT,
)


def _validate_credits(credits: object, *, name: str = "credits") -> int:
    if isinstance(credits, bool) or not isinstance(credits, int) or credits <= 0:
        raise InvalidInput(f"{name} must be a positive whole number")
    if credits > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(f"{name} must be at most {MAX_CREDITS_PER_OPERATION}")
    return credits


def credit_account_get(*, team: Team) -> CreditAccount:
    """The team's account, created empty on first use."""
    account, _ = CreditAccount.objects.get_or_create(team=team)
    return account


def _locked_account(team: Team) -> CreditAccount:
    """The team's account row, locked until the transaction ends (created if new).

    FOR NO KEY UPDATE, the lock an UPDATE takes: it serialises every change of the
    account, yet lets other transactions insert holds and ledger entries that refer
    to it (their foreign key check takes a KEY SHARE lock, which FOR UPDATE would
    block until this transaction ends)."""
    statement = (
        f"SELECT {ACCOUNT_COLUMNS} FROM credits_creditaccount "  # noqa: S608
        "WHERE team_id = %s" + sql.for_update(no_key=True)
    )
    found = sql.rows(statement, [team.pk])
    if not found:
        credit_account_get(team=team)
        found = sql.rows(statement, [team.pk])
    return account_of(team, found[0])


# The columns `account_of` reads, in its order.
ACCOUNT_COLUMNS = "id, credits_allocated, credits_used, credits_reserved, updated_at"


def account_of(team: Team, row: tuple[Any, ...]) -> CreditAccount:
    """The team's account from a row of ACCOUNT_COLUMNS."""
    pk, allocated, used, reserved, updated_at = row
    account = CreditAccount(
        id=pk,
        team=team,
        credits_allocated=allocated,
        credits_used=used,
        credits_reserved=reserved,
        updated_at=sql.read(CreditAccount, "updated_at", updated_at),
    )
    account._state.adding = False
    return account


def _entry_write(
    account: CreditAccount, *, entry_type: str, amount: int, **fields: Any
) -> LedgerEntry:
    """Append an entry for a change already applied to the locked `account`."""
    after = account.balance
    entry = LedgerEntry(
        account=account,
        entry_type=entry_type,
        amount=amount,
        balance_before=after - amount,
        balance_after=after,
        **fields,
    )
    # A charge is sent without waiting (its pk left unset: nothing reads it before
    # the commit), for the account row is locked meanwhile and the hot path's
    # commit travels with it (saas_litellm.sql.pipelined).
    sql.insert(entry, read_pk=entry_type != EntryType.DEDUCTION)
    # Alerts (thresholds crossed) are written here, in this transaction: see signals.
    ledger_entry_written.send(sender=LedgerEntry, entry=entry, account=account)
    return entry


def _entry_audit(team: Team, entry: LedgerEntry, *, action: str) -> None:
    """Record an operator's change of credits (a new entry, never a replay)."""
    audit_log_write(
        actor=entry.actor,
        action=action,
        obj=team,
        object_id=team.team_id,
        after={
            "credits": entry.amount,
            "entry_type": entry.entry_type,
            "reason": entry.reason,
            "transaction_id": str(entry.transaction_id),
        },
    )


def _entry_by_key(team: Team, idempotency_key: str | None) -> LedgerEntry | None:
    if not idempotency_key:
        return None
    return LedgerEntry.objects.filter(
        account__team=team, idempotency_key=idempotency_key
    ).first()


def credit_add(
    *,
    team: Team,
    credits: int,
    entry_type: str = EntryType.ALLOCATION,
    reason: str = "",
    actor: str = "",
    idempotency_key: str | None = None,
    payment_type: str = "",
    payment_amount_usd: Decimal | None = None,
) -> LedgerEntry:
    """Add credits (allocation, replenishment or a positive adjustment), and record
    it in the audit log as `credits.add`.

    With an idempotency key, a repeat returns the first entry and adds nothing (and
    records nothing).
    """
    credits = _validate_credits(credits)
    if entry_type not in CREDIT_ENTRY_TYPES:
        raise InvalidInput(f"entry type must be one of {', '.join(CREDIT_ENTRY_TYPES)}")
    try:
        with transaction.atomic():
            account = _locked_account(team)
            existing = _entry_by_key(team, idempotency_key)
            if existing is not None:
                return existing
            account.credits_allocated += credits
            account.save(update_fields=["credits_allocated", "updated_at"])
            entry = _entry_write(
                account,
                entry_type=entry_type,
                amount=credits,
                reason=reason,
                actor=actor,
                idempotency_key=idempotency_key or "",
                payment_type=payment_type,
                payment_amount_usd=payment_amount_usd,
            )
            _entry_audit(team, entry, action="credits.add")
            return entry
    except IntegrityError:
        # Two requests with one idempotency key raced; the first one's entry stands.
        existing = _entry_by_key(team, idempotency_key)
        if existing is None:
            raise
        return existing


def credit_adjust(
    *,
    team: Team,
    credits: int,
    reason: str,
    actor: str = "",
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """An operator's correction, positive or negative.

    A negative adjustment may take away only what is neither used nor reserved: the
    balance never goes below what open holds have set aside. Audit-logged as
    `credits.adjust` (a positive one as `credits.add`, through credit_add).
    """
    if isinstance(credits, bool) or not isinstance(credits, int) or credits == 0:
        raise InvalidInput("credits must be a whole number other than zero")
    _validate_credits(abs(credits))
    if not reason.strip():
        raise InvalidInput("an adjustment needs a reason")
    if credits > 0:
        return credit_add(
            team=team,
            credits=credits,
            entry_type=EntryType.ADJUSTMENT,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
        )
    with transaction.atomic():
        account = _locked_account(team)
        existing = _entry_by_key(team, idempotency_key)
        if existing is not None:
            return existing
        if account.credits_remaining + credits < 0:
            raise InvalidInput(
                f"cannot take away {-credits} credits: only "
                f"{account.credits_remaining} are neither used nor reserved"
            )
        account.credits_allocated += credits
        account.save(update_fields=["credits_allocated", "updated_at"])
        entry = _entry_write(
            account,
            entry_type=EntryType.ADJUSTMENT,
            amount=credits,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key or "",
        )
        _entry_audit(team, entry, action="credits.adjust")
        return entry


def credit_refund(
    *,
    team: Team,
    job_id: uuid.UUID,
    credits: int | None = None,
    reason: str = "",
    actor: str = "",
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Give back some or all of a job's deduction (None = all that is left).

    The refunds of a job never add up to more than its deduction. Audit-logged as
    `credits.refund`.
    """
    if credits is not None:
        credits = _validate_credits(credits)
    with transaction.atomic():
        account = _locked_account(team)
        existing = _entry_by_key(team, idempotency_key)
        if existing is not None:
            return existing
        job_entries = account.entries.filter(job_id=job_id)
        deducted = -(
            job_entries.filter(entry_type=EntryType.DEDUCTION).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        if deducted == 0:
            raise NotFound(f"Job {job_id} has no charge to refund")
        refunded = (
            job_entries.filter(entry_type=EntryType.REFUND).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        )
        refundable = deducted - refunded
        credits = refundable if credits is None else credits
        if credits <= 0 or credits > refundable:
            raise InvalidInput(
                f"job {job_id} has {refundable} of {deducted} credits left to refund"
            )
        account.credits_used -= credits
        account.save(update_fields=["credits_used", "updated_at"])
        entry = _entry_write(
            account,
            entry_type=EntryType.REFUND,
            amount=credits,
            reason=reason,
            actor=actor,
            job_id=job_id,
            idempotency_key=idempotency_key or "",
        )
        _entry_audit(team, entry, action="credits.refund")
        return entry
