"""The credit ledger: one account per team, append-only entries and holds.

Invariants, each backed by a database constraint:
- balance = credits_allocated - credits_used = the sum of the team's ledger entries;
- credits_reserved = the sum of the team's open holds;
- available = balance - credits_reserved >= 0, whatever the interleaving;
- a job is charged (deducted) at most once.
Ledger rows are never updated or deleted (a trigger refuses it, see the migrations).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from teams.models import Team, VirtualKey

# A team is low on credits when what it has available (allocated - used - reserved)
# is under LOW_CREDITS_PERCENT % of what it was ever allocated, or under
# LOW_CREDITS_FLOOR credits. Constants, not settings: one rule for every operator
# keeps the dashboard's list comparable.
LOW_CREDITS_PERCENT = 10
LOW_CREDITS_FLOOR = 10


class CreditAccount(models.Model):
    team = models.OneToOneField(
        Team, on_delete=models.PROTECT, related_name="credit_account"
    )
    credits_allocated = models.BigIntegerField(default=0)
    credits_used = models.BigIntegerField(default=0)
    credits_reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # What is available above the low-credit line (negative: the team is low),
    # kept by the database on every change. A column, not an index (the account's
    # updates stay HOT): its statistics tell the planner that few accounts are low,
    # so the dashboard reads those few instead of joining every team to them.
    low_credits_margin = models.GeneratedField(
        expression=F("credits_allocated")
        - F("credits_used")
        - F("credits_reserved")
        - Greatest(
            Value(LOW_CREDITS_FLOOR),
            F("credits_allocated") * LOW_CREDITS_PERCENT / 100,
        ),
        output_field=models.BigIntegerField(),
        db_persist=True,
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credits_reserved__gte=0),
                name="account_reserved_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(credits_used__gte=0), name="account_used_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(
                    credits_allocated__gte=F("credits_used") + F("credits_reserved")
                ),
                name="account_available_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}: {self.balance} credits"

    @property
    def balance(self) -> int:
        return self.credits_allocated - self.credits_used

    @property
    def credits_remaining(self) -> int:
        return self.credits_allocated - self.credits_used - self.credits_reserved


class EntryType(models.TextChoices):
    ALLOCATION = "allocation", "Allocation"
    REPLENISHMENT = "replenishment", "Replenishment"
    DEDUCTION = "deduction", "Deduction"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"


class LedgerEntry(models.Model):
    """One change of a team's balance. `amount` is signed: deductions are negative."""

    transaction_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries"
    )
    entry_type = models.CharField(max_length=20, choices=EntryType.choices)
    amount = models.BigIntegerField()
    balance_before = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=200, blank=True)
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    payment_type = models.CharField(max_length=20, blank=True)
    payment_amount_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["account", "-created_at"]),
            # The dashboard's ledger, newest first.
            models.Index(fields=["-created_at", "-id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="entry_amount_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(balance_after=F("balance_before") + F("amount")),
                name="entry_after_is_before_plus_amount",
            ),
            models.CheckConstraint(
                condition=Q(entry_type__in=EntryType.values), name="entry_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(entry_type=EntryType.DEDUCTION) | Q(amount__lt=0),
                name="entry_deduction_is_negative",
            ),
            models.CheckConstraint(
                condition=~Q(
                    entry_type__in=[
                        EntryType.ALLOCATION,
                        EntryType.REPLENISHMENT,
                        EntryType.REFUND,
                    ]
                )
                | Q(amount__gt=0),
                name="entry_credit_is_positive",
            ),
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="entry_idempotency_key_unique_per_account",
            ),
            models.UniqueConstraint(
                fields=["job_id"],
                condition=Q(entry_type=EntryType.DEDUCTION),
                name="entry_one_deduction_per_job",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_type} {self.amount:+d} ({self.transaction_id})"


class HoldStatus(models.TextChoices):
    OPEN = "open", "Open"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class CreditHold(models.Model):
    """Credits set aside for a job before work starts. One hold per job."""

    hold_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="holds"
    )
    job_id = models.UUIDField(unique=True)
    amount = models.BigIntegerField()
    status = models.CharField(
        max_length=20, choices=HoldStatus.choices, default=HoldStatus.OPEN
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The key's and the end user's budget periods this job's credits count in,
    # fixed when the hold opens (a job started in one period ends in it).
    key_spend = models.ForeignKey(
        "BudgetSpend",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    user_spend = models.ForeignKey(
        "BudgetSpend",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            # The dashboard's holds, newest first, and one team's.
            models.Index(fields=["-created_at", "-id"]),
            models.Index(fields=["account", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="hold_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(status__in=HoldStatus.values), name="hold_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.OPEN, closed_at__isnull=True)
                | (~Q(status=HoldStatus.OPEN) & Q(closed_at__isnull=False)),
                name="hold_closed_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.amount} for job {self.job_id} ({self.status})"


class BudgetPeriod(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"


class Budget(models.Model):
    """A limit inside a team's pool: on one key, or on one end user (a `user_id`).
    `period` empty: one limit for all time; else calendar periods in the team's
    time zone. What is spent is counted per period in BudgetSpend."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="budgets")
    key = models.OneToOneField(
        VirtualKey,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budget",
    )
    user_id = models.CharField(max_length=200, blank=True)
    credits = models.BigIntegerField()
    period = models.CharField(max_length=10, blank=True, choices=BudgetPeriod.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credits__gte=0), name="budget_credits_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(period__in=["", *BudgetPeriod.values]),
                name="budget_period_valid",
            ),
            models.CheckConstraint(
                condition=Q(key__isnull=False, user_id="")
                | (Q(key__isnull=True) & ~Q(user_id="")),
                name="budget_on_a_key_or_an_end_user",
            ),
            models.UniqueConstraint(
                fields=["team", "user_id"],
                condition=Q(key__isnull=True),
                name="budget_one_per_end_user",
            ),
        ]

    def __str__(self) -> str:
        whose = f"key {self.key_id}" if self.key_id else f"user {self.user_id}"
        return f"{whose}: {self.credits} credits per {self.period or 'all time'}"


class BudgetSpend(models.Model):
    """What a budget's holders used and hold in one period (`period_start`, UTC;
    the epoch for a budget without a period). Changed only under the team's
    account row lock, with the team's holds (credits.services)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="spends")
    period_start = models.DateTimeField()
    used = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start"], name="budget_spend_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(used__gte=0) & Q(reserved__gte=0),
                name="budget_spend_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} from {self.period_start}: {self.used}+{self.reserved}"


class ReconcileCheckpoint(models.Model):
    """How far reconciliation verified an account's ledger: its last verified entry
    (by id), the balance after it and the running sums of the entries up to it
    (credits.services.reconcile). The ledger is append-only, so the next run
    verifies only the entries after it. `account_id` is no foreign key on purpose:
    writing a checkpoint must not lock the account row (a key-share lock) that the
    team's requests hold."""

    account_id = models.BigIntegerField(primary_key=True)
    entry_id = models.BigIntegerField()
    balance = models.BigIntegerField()
    credited = models.BigIntegerField()
    used = models.BigIntegerField()
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"account {self.account_id} verified to entry {self.entry_id}"


class IdempotencyRecord(models.Model):
    """The first answer to an admin write sent with an `Idempotency-Key` header."""

    scope = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="idempotency_scope_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
