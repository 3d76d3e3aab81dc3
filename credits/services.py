"""Every change of a team's credits goes through this module.

Each function owns a short transaction that locks the account row (or updates it with a
condition) and writes the ledger entry or hold in the same transaction, so concurrent
requests can never spend more than the team has and a job is never charged twice. The
database constraints on the models back every rule here.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from credits.models import CreditAccount, CreditHold, EntryType, HoldStatus, LedgerEntry
from saas_litellm.exceptions import Conflict, InsufficientCredits, InvalidInput
from teams.models import BudgetMode, Team

logger = logging.getLogger(__name__)

MINIMUM_JOB_CHARGE = 1
USD_QUANTUM = Decimal("0.00000001")
CREDIT_ENTRY_TYPES = (
    EntryType.ALLOCATION,
    EntryType.REPLENISHMENT,
    EntryType.ADJUSTMENT,
)


def _validate_credits(credits: object) -> int:
    if isinstance(credits, bool) or not isinstance(credits, int) or credits <= 0:
        raise InvalidInput("credits must be a positive whole number")
    return credits


def credit_account_get(*, team: Team) -> CreditAccount:
    """The team's account, created empty on first use."""
    account, _ = CreditAccount.objects.get_or_create(team=team)
    return account


def _locked_account(team: Team) -> CreditAccount:
    credit_account_get(team=team)
    return CreditAccount.objects.select_for_update().get(team=team)


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
    """Add credits (allocation, replenishment or a positive adjustment).

    With an idempotency key, a repeat returns the first entry and adds nothing.
    """
    credits = _validate_credits(credits)
    if entry_type not in CREDIT_ENTRY_TYPES:
        raise InvalidInput(f"entry type must be one of {', '.join(CREDIT_ENTRY_TYPES)}")
    try:
        with transaction.atomic():
            account = _locked_account(team)
            if idempotency_key:
                existing = account.entries.filter(
                    idempotency_key=idempotency_key
                ).first()
                if existing is not None:
                    return existing
            before = account.balance
            account.credits_allocated += credits
            account.save(update_fields=["credits_allocated", "updated_at"])
            return LedgerEntry.objects.create(
                account=account,
                entry_type=entry_type,
                amount=credits,
                balance_before=before,
                balance_after=before + credits,
                reason=reason,
                actor=actor,
                idempotency_key=idempotency_key or "",
                payment_type=payment_type,
                payment_amount_usd=payment_amount_usd,
            )
    except IntegrityError:
        # Two requests with one idempotency key raced; the first one's entry stands.
        if idempotency_key:
            existing = LedgerEntry.objects.filter(
                account__team=team, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                return existing
        raise


def credit_reserve(
    *, team: Team, job_id: uuid.UUID, credits: int, ttl: timedelta | None = None
) -> CreditHold:
    """Set `credits` aside for a job, adding to the job's open hold.

    One conditional UPDATE does the check and the write, so two requests can never
    both take the last credit. Raises InsufficientCredits when they are not there.
    """
    credits = _validate_credits(credits)
    expires_at = timezone.now() + (
        ttl or timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS)
    )
    with transaction.atomic():
        reserved = CreditAccount.objects.filter(
            team=team,
            credits_allocated__gte=F("credits_used") + F("credits_reserved") + credits,
        ).update(
            credits_reserved=F("credits_reserved") + credits, updated_at=timezone.now()
        )
        if not reserved:
            raise InsufficientCredits()
        grown = CreditHold.objects.filter(job_id=job_id, status=HoldStatus.OPEN).update(
            amount=F("amount") + credits, expires_at=expires_at
        )
        if grown:
            return CreditHold.objects.get(job_id=job_id)
        try:
            with transaction.atomic():
                return CreditHold.objects.create(
                    account=CreditAccount.objects.only("pk").get(team=team),
                    job_id=job_id,
                    amount=credits,
                    expires_at=expires_at,
                )
        except IntegrityError:
            raise Conflict(
                "Credits for this job were already settled", code="job_closed"
            ) from None


def credit_capture(
    *, team: Team, job_id: uuid.UUID, credits: int, reason: str = "", actor: str = ""
) -> LedgerEntry | None:
    """Charge a job: close its hold and write one deduction, at most once per job.

    A repeat returns the first deduction. The charge never overdraws the account: when
    the real charge exceeds the hold plus what is still available (an estimate that
    was too low), the team is charged what it has and the shortfall is logged.
    Returns None when the charge is zero.
    """
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise InvalidInput("credits must be a whole number, zero or more")
    try:
        with transaction.atomic():
            hold = CreditHold.objects.select_for_update().filter(job_id=job_id).first()
            existing = LedgerEntry.objects.filter(
                job_id=job_id, entry_type=EntryType.DEDUCTION
            ).first()
            if existing is not None or (hold and hold.status == HoldStatus.CAPTURED):
                return existing
            account = _locked_account(team)
            held = hold.amount if hold and hold.status == HoldStatus.OPEN else 0
            charge = min(credits, held + account.credits_remaining)
            if charge < credits:
                logger.warning(
                    "job %s: charge %s capped at %s credits (account exhausted)",
                    job_id,
                    credits,
                    charge,
                )
            before = account.balance
            account.credits_reserved -= held
            account.credits_used += charge
            account.save(
                update_fields=["credits_reserved", "credits_used", "updated_at"]
            )
            if hold is not None and hold.status == HoldStatus.OPEN:
                hold.status = HoldStatus.CAPTURED
                hold.closed_at = timezone.now()
                hold.save(update_fields=["status", "closed_at"])
            if charge == 0:
                return None
            return LedgerEntry.objects.create(
                account=account,
                entry_type=EntryType.DEDUCTION,
                amount=-charge,
                balance_before=before,
                balance_after=before - charge,
                reason=reason,
                actor=actor,
                job_id=job_id,
            )
    except IntegrityError:
        # A concurrent capture of the same job won: its deduction is the only one.
        existing = LedgerEntry.objects.filter(
            job_id=job_id, entry_type=EntryType.DEDUCTION
        ).first()
        if existing is None:
            raise
        return existing


def credit_release(
    *, team: Team, job_id: uuid.UUID, status: str = HoldStatus.RELEASED
) -> CreditHold | None:
    """Give a job's open hold back to the team. Does nothing when it is not open."""
    with transaction.atomic():
        hold = (
            CreditHold.objects.select_for_update()
            .filter(job_id=job_id, account__team=team, status=HoldStatus.OPEN)
            .first()
        )
        if hold is None:
            return None
        CreditAccount.objects.filter(pk=hold.account_id).update(
            credits_reserved=F("credits_reserved") - hold.amount,
            updated_at=timezone.now(),
        )
        hold.status = status
        hold.closed_at = timezone.now()
        hold.save(update_fields=["status", "closed_at"])
        return hold


def holds_expire(*, now: timezone.datetime | None = None) -> int:
    """Release every open hold past its expiry (a crashed worker's); count returned."""
    now = now or timezone.now()
    expired = 0
    for hold in CreditHold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now):
        if credit_release(
            team=hold.account.team, job_id=hold.job_id, status=HoldStatus.EXPIRED
        ):
            expired += 1
    return expired


def client_cost_usd(*, team: Team, provider_cost_usd: Decimal) -> Decimal:
    """What the team is billed in USD: provider cost plus the team's markup."""
    markup = Decimal(1) + Decimal(team.markup_percent) / Decimal(100)
    return (Decimal(provider_cost_usd) * markup).quantize(USD_QUANTUM, ROUND_HALF_UP)


def credits_for_job(*, team: Team, total_tokens: int, client_cost: Decimal) -> int:
    """The charge of one completed job under the team's budget mode (see API.md)."""
    if team.budget_mode == BudgetMode.CONSUMPTION_TOKENS:
        return max(MINIMUM_JOB_CHARGE, math.ceil(total_tokens / team.tokens_per_credit))
    if team.budget_mode == BudgetMode.CONSUMPTION_USD:
        credits = (
            Decimal(client_cost) * Decimal(team.credits_per_dollar)
        ).to_integral_value(ROUND_CEILING)
        return max(MINIMUM_JOB_CHARGE, int(credits))
    return MINIMUM_JOB_CHARGE
