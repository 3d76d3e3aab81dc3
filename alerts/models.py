"""Alerts: per-team rules, the outbox of alert events, webhook endpoints and their
deliveries, and the runs of scheduled maintenance.

Invariants, each backed by a constraint:
- an alert fires at most once per (team, rule, period): a unique constraint, on top
  of the account (or team) row lock its writer holds;
- an event is delivered to an endpoint through one delivery row (event, endpoint);
- a scheduled job is enqueued at most once per slot (name, slot_start).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from teams.models import Organization, Team

DEFAULT_THRESHOLDS_PERCENT = [50, 80, 95]


class AlertSettings(models.Model):
    """A team's alert rules. A team without a row uses the defaults."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, related_name="alert_settings"
    )
    thresholds_percent = models.JSONField(
        default=list, help_text="Percent of the allocation used, e.g. [50, 80, 95]."
    )
    low_credits = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Alert once the balance falls below this many credits.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "alert settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(low_credits__gte=0) | Q(low_credits__isnull=True),
                name="alert_settings_low_credits_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"alerts of {self.team_id}"


class EventType(models.TextChoices):
    THRESHOLD_CROSSED = "credits.threshold_crossed", "Allocation threshold crossed"
    LOW_CREDITS = "credits.low", "Credits low"
    KEY_BUDGET_THRESHOLD = "key.budget_threshold_crossed", "Key budget threshold"
    USER_BUDGET_THRESHOLD = (
        "end_user.budget_threshold_crossed",
        "End-user budget threshold",
    )
    TEAM_SUSPENDED = "team.suspended", "Team suspended"
    KEY_EXPIRING = "key.expiring", "Key expiring"
    RECONCILE_FAILED = "credits.reconcile_failed", "Ledger does not reconcile"


class AlertEvent(models.Model):
    """One alert, written in the transaction of the change that caused it (outbox).

    `rule` names what fired (`threshold:80`, `low_credits`, `team_suspended`,
    `key_expiring:<key_id>`, `reconcile`); `period` names the stretch of time in which
    it may fire once (for credit rules the ledger entry that set the allocation).
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=50, choices=EventType.choices)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alert_events",
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alert_events",
    )
    rule = models.CharField(max_length=100)
    period = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "rule", "period"],
                condition=Q(team__isnull=False),
                name="alert_once_per_team_rule_period",
            ),
            models.UniqueConstraint(
                fields=["rule", "period"],
                condition=Q(team__isnull=True),
                name="alert_once_per_operator_rule_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.team_id or 'operator'} {self.rule}"


class WebhookEndpoint(models.Model):
    """Where alerts are POSTed. Scope: a team, an organization (all its teams) or,
    with neither, every event including the operator's own (reconciliation)."""

    webhook_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    url = models.URLField(max_length=500)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
    )
    events = models.JSONField(
        default=list, blank=True, help_text="Event types sent; empty means all."
    )
    # Fernet (CREDENTIAL_ENCRYPTION_KEYS): the plaintext is needed to sign.
    encrypted_secret = models.TextField(editable=False)
    secret_prefix = models.CharField(max_length=20, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint: retried until a 2xx or the retry window ends.

    A worker claims it (status `sending`, `lease_until`) in a short transaction,
    POSTs outside any transaction, and records the outcome; a worker that dies
    mid-delivery leaves a lease that expires, and the sweep hands it to another.
    """

    event = models.ForeignKey(
        AlertEvent, on_delete=models.PROTECT, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values),
                name="delivery_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST: its answer's status (None: no answer), latency and a sanitized
    error (never the secret, the signature or the response body)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="delivery_attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped (previous run still going)"
    FAILED = "failed", "Failed"


class ScheduleRun(models.Model):
    """One slot of a scheduled job. The unique (name, slot_start) is what makes
    several workers on several machines enqueue it once."""

    name = models.CharField(max_length=50)
    slot_start = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-slot_start", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "slot_start"], name="schedule_run_once_per_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot_start:%Y-%m-%d %H:%M} ({self.status})"
