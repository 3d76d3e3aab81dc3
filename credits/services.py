"""Every change of a team's credits goes through this module.

Each function owns a short transaction that locks the team's account row first and then
writes the ledger entry or hold in the same transaction, so concurrent requests can
never spend more than the team has and a job is never charged twice. The database
constraints on the models back every rule here.

Lock order: the account row, then the job's hold. Every function that touches both takes
them in that order; taking them the other way round (as an earlier version of capture
did) lets a reserve and a capture of one job deadlock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Subquery, Sum
from django.utils import timezone

from credits.models import (
    CreditAccount,
    CreditHold,
    EntryType,
    HoldStatus,
    LedgerEntry,
)
from saas_litellm.exceptions import (
    Conflict,
    InsufficientCredits,
    InvalidInput,
    JobClosed,
    NotFound,
)
from teams.models import BudgetMode, ModelAccessGroup, ModelAlias, Organization, Team
from teams.services import (
    IssuedKey,
    access_groups_resolve,
    audit_log_write,
    team_create,
)

logger = logging.getLogger(__name__)

MINIMUM_JOB_CHARGE = 1
# One operation may move at most this many credits: far above any real top-up, far
# below the 64-bit columns, so sums of many operations cannot overflow either.
MAX_CREDITS_PER_OPERATION = 10**12
USD_QUANTUM = Decimal("0.00000001")
CREDIT_ENTRY_TYPES = (
    EntryType.ALLOCATION,
    EntryType.REPLENISHMENT,
    EntryType.ADJUSTMENT,
)
RELEASE_STATUSES = (HoldStatus.RELEASED, HoldStatus.EXPIRED)


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
    """The team's account row, locked until the transaction ends (created if new)."""
    account = CreditAccount.objects.select_for_update().filter(team=team).first()
    if account is None:
        credit_account_get(team=team)
        account = CreditAccount.objects.select_for_update().get(team=team)
    return account


def _entry_write(
    account: CreditAccount, *, entry_type: str, amount: int, **fields: Any
) -> LedgerEntry:
    """Append an entry for a change already applied to the locked `account`."""
    after = account.balance
    return LedgerEntry.objects.create(
        account=account,
        entry_type=entry_type,
        amount=amount,
        balance_before=after - amount,
        balance_after=after,
        **fields,
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
    """Add credits (allocation, replenishment or a positive adjustment).

    With an idempotency key, a repeat returns the first entry and adds nothing.
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
            return _entry_write(
                account,
                entry_type=entry_type,
                amount=credits,
                reason=reason,
                actor=actor,
                idempotency_key=idempotency_key or "",
                payment_type=payment_type,
                payment_amount_usd=payment_amount_usd,
            )
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
    balance never goes below what open holds have set aside.
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
        return _entry_write(
            account,
            entry_type=EntryType.ADJUSTMENT,
            amount=credits,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key or "",
        )


def _hold_for_update(account: CreditAccount, job_id: uuid.UUID) -> CreditHold | None:
    return (
        CreditHold.objects.select_for_update()
        .filter(account=account, job_id=job_id)
        .first()
    )


def credit_reserve(
    *, team: Team, job_id: uuid.UUID, credits: int, ttl: timedelta | None = None
) -> CreditHold:
    """Set `credits` aside for a job, adding to the job's open hold.

    One conditional UPDATE does the check and the write (and locks the account row),
    so two requests can never both take the last credit. Raises InsufficientCredits
    when they are not there, and JobClosed when the job was already settled.
    Growing a hold also pushes its expiry back: the job is evidently still alive; a
    job whose hold expired gets a fresh one.
    """
    credits = _validate_credits(credits)
    expires_at = timezone.now() + (
        ttl or timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS)
    )
    with transaction.atomic():
        # No account yet means no credits: the UPDATE matches nothing.
        reserved = CreditAccount.objects.filter(
            team=team,
            credits_allocated__gte=F("credits_used") + F("credits_reserved") + credits,
        ).update(
            credits_reserved=F("credits_reserved") + credits, updated_at=timezone.now()
        )
        if not reserved:
            raise InsufficientCredits()
        account = CreditAccount.objects.only("pk").get(team=team)
        hold = _hold_for_update(account, job_id)
        if hold is not None and hold.status in (
            HoldStatus.CAPTURED,
            HoldStatus.RELEASED,
        ):
            # Raising rolls the account update back with the rest.
            raise JobClosed(f"Credits for job {job_id} were already settled")
        if hold is not None and hold.status == HoldStatus.EXPIRED:
            # The job outlived its hold but is still working: a fresh reservation.
            hold.status, hold.amount, hold.closed_at = HoldStatus.OPEN, 0, None
        if hold is not None:
            hold.amount += credits
            hold.expires_at = expires_at
            hold.save(update_fields=["status", "amount", "expires_at", "closed_at"])
            return hold
        try:
            with transaction.atomic():
                return CreditHold.objects.create(
                    account=account,
                    job_id=job_id,
                    amount=credits,
                    expires_at=expires_at,
                )
        except IntegrityError:
            # The job id is held by another team's account: ids are UUIDs, so this
            # is a caller's bug, not a race (same-team reserves are serialised).
            raise Conflict(
                f"Job {job_id} already has credits reserved elsewhere"
            ) from None


def credit_reserve_for_new_job(
    *, team: Team, job_id: uuid.UUID, credits: int, ttl: timedelta | None = None
) -> None:
    """credit_reserve for a job created in the caller's open transaction, which
    therefore has no hold yet: the same conditional UPDATE, then the hold's INSERT
    (its account found by a subquery), and nothing else.

    Runs in the caller's transaction, without a savepoint: InsufficientCredits (or
    a duplicate job id, refused by the unique constraint) must end that transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("credit_reserve_for_new_job needs the job's transaction")
    credits = _validate_credits(credits)
    now = timezone.now()
    expires_at = now + (ttl or timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS))
    reserved = CreditAccount.objects.filter(
        team=team,
        credits_allocated__gte=F("credits_used") + F("credits_reserved") + credits,
    ).update(credits_reserved=F("credits_reserved") + credits, updated_at=now)
    if not reserved:
        raise InsufficientCredits()
    CreditHold.objects.create(
        account_id=Subquery(CreditAccount.objects.filter(team=team).values("pk")),
        job_id=job_id,
        amount=credits,
        expires_at=expires_at,
    )


def _deduction_of(job_id: uuid.UUID) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(
        job_id=job_id, entry_type=EntryType.DEDUCTION
    ).first()


def credit_capture(
    *,
    team: Team,
    job_id: uuid.UUID,
    credits: int,
    reason: str = "",
    actor: str = "",
    savepoint: bool = True,
) -> LedgerEntry | None:
    """Charge a job: close its hold and write one deduction, at most once per job.

    A repeat returns the first deduction (None when the first charge was zero). The
    charge never overdraws the account: when the real charge exceeds the hold plus what
    is still available (an estimate that was too low), the team is charged what it has
    and the shortfall is logged. A job whose hold expired (its worker went quiet) is
    still billed for what it used, from what is available. A job whose hold was
    released (failed or cancelled) cannot be charged any more: JobClosed.

    `savepoint=False` (for a caller whose own transaction ends on any error) takes
    no savepoint: an error then rolls the caller's transaction back as a whole.
    The returned entry's `account` is the locked account as this charge left it.
    """
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise InvalidInput("credits must be a whole number, zero or more")
    if credits > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(f"credits must be at most {MAX_CREDITS_PER_OPERATION}")
    now = timezone.now()
    with transaction.atomic(savepoint=savepoint):
        account = _locked_account(team)
        hold = _hold_for_update(account, job_id)
        if hold is not None and hold.status == HoldStatus.CAPTURED:
            return _deduction_of(job_id)
        if hold is not None and hold.status == HoldStatus.RELEASED:
            raise JobClosed(f"Credits for job {job_id} were released; it is not billed")
        if hold is None and (
            CreditHold.objects.filter(job_id=job_id).exists()
            or _deduction_of(job_id) is not None
        ):
            # The job belongs to another team's account: never charged here. (An
            # open hold here proves the job was never captured: holds are per job.)
            raise Conflict(f"Job {job_id} belongs to another account")
        held = hold.amount if hold is not None and hold.status == HoldStatus.OPEN else 0
        charge = min(credits, held + account.credits_remaining)
        if charge < credits:
            logger.warning(
                "job %s: charge %s capped at %s credits (account exhausted)",
                job_id,
                credits,
                charge,
            )
        account.credits_reserved -= held
        account.credits_used += charge
        account.save(update_fields=["credits_reserved", "credits_used", "updated_at"])
        if hold is None:
            # A settlement marker, so that a job charged without a reservation is
            # still charged at most once (and cannot reserve again).
            CreditHold.objects.create(
                account=account,
                job_id=job_id,
                amount=0,
                status=HoldStatus.CAPTURED,
                expires_at=now,
                closed_at=now,
            )
        else:
            hold.status = HoldStatus.CAPTURED
            hold.closed_at = now
            hold.save(update_fields=["status", "closed_at"])
        if charge == 0:
            return None
        return _entry_write(
            account,
            entry_type=EntryType.DEDUCTION,
            amount=-charge,
            reason=reason,
            actor=actor,
            job_id=job_id,
        )


def credit_release(
    *,
    team: Team,
    job_id: uuid.UUID,
    status: str = HoldStatus.RELEASED,
    savepoint: bool = True,
) -> CreditHold | None:
    """Give a job's open hold back to the team. Does nothing when it is not open.

    `savepoint` as for credit_capture."""
    if status not in RELEASE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(RELEASE_STATUSES)}")
    with transaction.atomic(savepoint=savepoint):
        account = _locked_account(team)
        hold = _hold_for_update(account, job_id)
        if hold is None or hold.status != HoldStatus.OPEN:
            return None
        _hold_close(account, hold, status=status)
        return hold


def _hold_close(account: CreditAccount, hold: CreditHold, *, status: str) -> None:
    account.credits_reserved -= hold.amount
    account.save(update_fields=["credits_reserved", "updated_at"])
    hold.status = status
    hold.closed_at = timezone.now()
    hold.save(update_fields=["status", "closed_at"])


def holds_expire(*, now: datetime | None = None) -> int:
    """Release every open hold past its expiry (a crashed worker's); count returned.

    Each hold is re-checked under the account lock: a hold whose job reserved more
    (and so pushed its expiry back) or was captured meanwhile is left alone.
    """
    now = now or timezone.now()
    expired = 0
    candidates = list(
        CreditHold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("account_id", "pk")
    )
    for account_id, hold_pk in candidates:
        with transaction.atomic():
            account = CreditAccount.objects.select_for_update().get(pk=account_id)
            hold = (
                CreditHold.objects.select_for_update()
                .filter(pk=hold_pk, status=HoldStatus.OPEN, expires_at__lte=now)
                .first()
            )
            if hold is not None:
                _hold_close(account, hold, status=HoldStatus.EXPIRED)
                expired += 1
    return expired


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

    The refunds of a job never add up to more than its deduction.
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
        return _entry_write(
            account,
            entry_type=EntryType.REFUND,
            amount=credits,
            reason=reason,
            actor=actor,
            job_id=job_id,
            idempotency_key=idempotency_key or "",
        )


def client_cost_usd(*, team: Team, provider_cost_usd: Decimal) -> Decimal:
    """What the team is billed in USD: provider cost plus the team's markup."""
    markup = Decimal(1) + Decimal(team.markup_percent) / Decimal(100)
    return (Decimal(provider_cost_usd) * markup).quantize(USD_QUANTUM, ROUND_HALF_UP)


def credits_for_job(*, team: Team, total_tokens: int, client_cost: Decimal) -> int:
    """The charge of one completed job under the team's budget mode (see API.md)."""
    if team.budget_mode == BudgetMode.CONSUMPTION_TOKENS:
        # Integer ceiling division: exact for any size, unlike a float division.
        return max(MINIMUM_JOB_CHARGE, -(-int(total_tokens) // team.tokens_per_credit))
    if team.budget_mode == BudgetMode.CONSUMPTION_USD:
        credits = (
            Decimal(client_cost) * Decimal(team.credits_per_dollar)
        ).to_integral_value(ROUND_CEILING)
        return max(MINIMUM_JOB_CHARGE, int(credits))
    return MINIMUM_JOB_CHARGE


# --- Reconciliation -------------------------------------------------------------------


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
    return problems


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


# --- Team onboarding and settings -----------------------------------------------------
# These write Team rows, which belong to `teams`; they live here because they are tied
# to the ledger (the initial allocation) and `teams` may not import `credits`.

TEAM_SETTING_FIELDS = (
    "team_alias",
    "budget_mode",
    "tokens_per_credit",
    "credits_per_dollar",
    "markup_percent",
    "requests_per_minute",
    "tokens_per_minute",
    "max_parallel_requests",
    "metadata",
)


@dataclass(frozen=True)
class OnboardedTeam:
    """A new team, its first key (plaintext only here) and its funded account."""

    issued: IssuedKey
    account: CreditAccount

    @property
    def team(self) -> Team:
        return self.issued.key.team


def team_onboard(
    *,
    organization_id: str,
    team_id: str,
    actor: str,
    access_groups: list[str] | None = None,
    credits_allocated: int = 0,
    **settings_fields: Any,
) -> OnboardedTeam:
    """Create a team, its first key and its initial allocation in one transaction.

    Unknown organization or access group → NotFound; a taken team id → Conflict. When
    anything fails nothing is left behind: no team, no key, no ledger entry.
    """
    if credits_allocated:
        _validate_credits(credits_allocated, name="credits_allocated")
    organization = Organization.objects.filter(organization_id=organization_id).first()
    if organization is None:
        raise NotFound(f"Organization '{organization_id}' not found")
    groups: list[ModelAccessGroup] = access_groups_resolve(
        group_names=list(access_groups or [])
    )
    with transaction.atomic():
        issued = team_create(
            organization=organization,
            team_id=team_id,
            actor=actor,
            access_groups=groups,
            **settings_fields,
        )
        team = issued.key.team
        account = credit_account_get(team=team)
        if credits_allocated:
            credit_add(
                team=team,
                credits=credits_allocated,
                entry_type=EntryType.ALLOCATION,
                reason="initial allocation",
                actor=actor,
            )
            account.refresh_from_db()
    return OnboardedTeam(issued=issued, account=account)


def _team_settings_state(team: Team) -> dict[str, Any]:
    """The settings as JSON for the audit log (Decimals as exact strings)."""
    return {
        field: str(value) if isinstance(value, Decimal) else value
        for field in TEAM_SETTING_FIELDS
        for value in [getattr(team, field)]
    }


def team_settings_update(
    *,
    team: Team,
    actor: str,
    access_groups: list[str] | None = None,
    **fields: Any,
) -> Team:
    """Change a team's alias, access groups, budget mode and rates, or rate limits.

    Only the fields given change. Values are validated by the model's own validators;
    any error leaves the team as it was.
    """
    unknown = set(fields) - set(TEAM_SETTING_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown team setting(s): {', '.join(sorted(unknown))}")
    if "budget_mode" in fields and fields["budget_mode"] not in BudgetMode.values:
        raise InvalidInput(
            f"budget_mode must be one of: {', '.join(BudgetMode.values)}"
        )
    groups = (
        access_groups_resolve(group_names=access_groups)
        if access_groups is not None
        else None
    )
    with transaction.atomic():
        locked = (
            Team.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=team.pk)
        )
        before = _team_settings_state(locked)
        before_groups = sorted(
            locked.access_groups.values_list("group_name", flat=True)
        )
        for field, value in fields.items():
            setattr(locked, field, value)
        locked.full_clean(exclude=["organization"], validate_unique=False)
        locked.save()
        if groups is not None:
            locked.access_groups.set(groups)
        audit_log_write(
            actor=actor,
            action="team.update",
            obj=locked,
            object_id=locked.team_id,
            before={**before, "access_groups": before_groups},
            after={
                **_team_settings_state(locked),
                "access_groups": sorted(
                    locked.access_groups.values_list("group_name", flat=True)
                ),
            },
        )
    return locked


def team_budget_mode_set(
    *,
    team: Team,
    budget_mode: str,
    actor: str,
    tokens_per_credit: int | None = None,
    credits_per_dollar: Decimal | None = None,
    markup_percent: Decimal | None = None,
) -> Team:
    """Switch a team's budget mode and, optionally, its conversion rates."""
    rates = {
        name: value
        for name, value in (
            ("tokens_per_credit", tokens_per_credit),
            ("credits_per_dollar", credits_per_dollar),
            ("markup_percent", markup_percent),
        )
        if value is not None
    }
    return team_settings_update(
        team=team, actor=actor, budget_mode=budget_mode, **rates
    )


def team_allowed_model_names(*, team: Team) -> list[str]:
    """Active aliases reachable through the team's active access groups, sorted."""
    return list(
        ModelAlias.objects.filter(
            is_active=True, access_groups__is_active=True, access_groups__teams=team
        )
        .values_list("model_alias", flat=True)
        .distinct()
        .order_by("model_alias")
    )


def teams_with_accounts() -> Any:
    """Teams with what their listings show, in team_id order."""
    return (
        Team.objects.select_related("organization", "credit_account")
        .prefetch_related("access_groups", "keys")
        .order_by("team_id")
    )
