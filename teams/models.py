"""Tenancy: organizations, teams and their virtual keys, and the model catalogue."""

from __future__ import annotations

import functools
import uuid
import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# Payloads are raw call rows: kept no longer than the calls (CALL_RETENTION_DAYS).
MAX_PAYLOAD_LOG_DAYS = 400
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Use 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit.",
)


@functools.cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_validator(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(
            f"'{value}' is not a time zone name (use an IANA name such as"
            " 'Europe/Paris' or 'UTC')"
        )


class Organization(models.Model):
    organization_id = models.CharField(
        max_length=100, unique=True, validators=[slug_validator]
    )
    name = models.CharField(max_length=200)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization_id})"


class ModelAccessGroup(models.Model):
    group_name = models.CharField(
        max_length=100, unique=True, validators=[slug_validator]
    )
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group_name"]

    def __str__(self) -> str:
        return self.group_name


class ProviderCredential(models.Model):
    """A provider API key, encrypted at rest with Fernet; never returned by the API."""

    credential_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="provider_credentials",
        help_text="Empty for a global credential shared by every organization.",
    )
    provider = models.CharField(max_length=50)
    credential_name = models.CharField(
        max_length=100, unique=True, validators=[slug_validator]
    )
    encrypted_api_key = models.TextField(blank=True, editable=False)
    api_base = models.URLField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["credential_name"]

    def __str__(self) -> str:
        return f"{self.credential_name} ({self.provider})"

    @property
    def has_api_key(self) -> bool:
        return bool(self.encrypted_api_key)


class RoutingStrategy(models.TextChoices):
    WEIGHTED = "weighted", "Weighted"
    LEAST_BUSY = "least_busy", "Least busy"
    LOWEST_LATENCY = "lowest_latency", "Lowest latency"


class DeploymentFields(models.Model):
    """What one deployment of an alias is: a litellm model string behind a
    credential, its share of the traffic, its own caps and prices."""

    actual_model = models.CharField(
        max_length=200, help_text="A litellm model string, e.g. openai/gpt-4o-mini."
    )
    credential = models.ForeignKey(
        ProviderCredential,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    api_base = models.URLField(max_length=500, blank=True)
    pricing_input = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per million input tokens; empty uses litellm's price table.",
    )
    pricing_output = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="USD per million output tokens; empty uses litellm's price table.",
    )
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Share of the traffic among the alias's deployments (weighted).",
    )
    rpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute this deployment takes."
    )
    tpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens per minute this deployment takes."
    )

    class Meta:
        abstract = True


class ModelAlias(DeploymentFields):
    """The name a team asks for, and what it really resolves to: its own deployment
    fields are its first deployment; `deployments` holds any further ones."""

    model_alias = models.CharField(
        max_length=100, unique=True, validators=[slug_validator]
    )
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=50)
    access_groups = models.ManyToManyField(
        ModelAccessGroup, related_name="model_aliases", blank=True
    )
    fallbacks = models.JSONField(
        default=list, blank=True, help_text="Ordered aliases tried when this one fails."
    )
    routing_strategy = models.CharField(
        max_length=20,
        choices=RoutingStrategy.choices,
        default=RoutingStrategy.WEIGHTED,
    )
    context_window_fallback = models.CharField(
        max_length=100,
        blank=True,
        help_text="Alias that takes prompts too long for this alias's deployments.",
    )
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    mock_response = models.TextField(
        blank=True,
        help_text="When set, litellm answers with this text without calling a provider "
        "(demos and offline tests).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    # As a deployment (see Deployment), the alias's own fields come first.
    position = 0

    class Meta:
        ordering = ["model_alias"]
        verbose_name_plural = "model aliases"
        constraints = [
            models.CheckConstraint(
                condition=Q(pricing_input__gte=0) | Q(pricing_input__isnull=True),
                name="model_alias_pricing_input_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(pricing_output__gte=0) | Q(pricing_output__isnull=True),
                name="model_alias_pricing_output_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.model_alias


class Deployment(DeploymentFields):
    """A further deployment of an alias (its first is the alias's own fields)."""

    alias = models.ForeignKey(
        ModelAlias, on_delete=models.CASCADE, related_name="deployments"
    )
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["alias", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["alias", "position"], name="deployment_position_unique"
            ),
            models.CheckConstraint(
                condition=(Q(pricing_input__gte=0) | Q(pricing_input__isnull=True))
                & (Q(pricing_output__gte=0) | Q(pricing_output__isnull=True)),
                name="deployment_pricing_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alias_id} #{self.position}: {self.actual_model}"


class CatalogueVersion(models.Model):
    """One row whose `version` grows whenever the model catalogue changes (aliases,
    access groups, their memberships, provider credentials) or a team's alert rules
    do: what the hot path keeps per process.

    PostgreSQL triggers bump it in the changing transaction, so the new version
    becomes visible when the change commits, with the change itself.
    Authentication reads it with the key, and `jobs.routing` reuses a team's route
    plan (`alerts.services.rules` its alert rules) while the version is the one it
    was read under. On SQLite there are no triggers: nothing is cached.
    """

    version = models.BigIntegerField()

    def __str__(self) -> str:
        return f"catalogue version {self.version}"


class TeamStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    PAUSED = "paused", "Paused"


class BudgetMode(models.TextChoices):
    JOB_BASED = "job_based", "One credit per completed job"
    CONSUMPTION_TOKENS = "consumption_tokens", "Credits by tokens used"
    CONSUMPTION_USD = "consumption_usd", "Credits by cost in USD"


class TeamQuerySet(models.QuerySet):
    def active(self) -> TeamQuerySet:
        return self.filter(status=TeamStatus.ACTIVE)


class Team(models.Model):
    team_id = models.CharField(max_length=100, unique=True, validators=[slug_validator])
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="teams"
    )
    team_alias = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=TeamStatus.choices, default=TeamStatus.ACTIVE
    )
    access_groups = models.ManyToManyField(
        ModelAccessGroup, related_name="teams", blank=True
    )
    budget_mode = models.CharField(
        max_length=30, choices=BudgetMode.choices, default=BudgetMode.JOB_BASED
    )
    tokens_per_credit = models.PositiveIntegerField(
        default=10_000, validators=[MinValueValidator(1)]
    )
    credits_per_dollar = models.DecimalField(
        max_digits=12, decimal_places=4, default=10, validators=[MinValueValidator(0)]
    )
    markup_percent = models.DecimalField(
        max_digits=7, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    # Rate limits; empty means unlimited.
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_parallel_requests = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Key and end-user budget periods are calendar days, weeks and months here.
    # (Declared after the fields above: in this class body the name `timezone` is
    # this field from here on, not django.utils.timezone.)
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[timezone_validator]
    )
    # True while the team has a key or end-user budget (credits.services.budgets
    # keeps it): admission looks for budgets only then.
    sub_budgets = models.BooleanField(default=False, editable=False)
    # Days each call's prompt and answer are kept (jobs.models.CallPayload); 0, the
    # default: never stored.
    payload_log_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_PAYLOAD_LOG_DAYS)],
        help_text="Days each call's prompt and answer are kept for the request log "
        "(0: never stored).",
    )

    objects = TeamQuerySet.as_manager()

    # Set by authentication: the catalogue version read with the caller's key
    # (see CatalogueVersion); None when unknown, and then nothing is cached.
    # Kept on the team's other objects of the request (its account) with it.
    catalogue_version: int | None = None

    class Meta:
        ordering = ["team_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=TeamStatus.values), name="team_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(budget_mode__in=BudgetMode.values),
                name="team_budget_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(tokens_per_credit__gte=1),
                name="team_tokens_per_credit_positive",
            ),
            models.CheckConstraint(
                condition=Q(credits_per_dollar__gt=0),
                name="team_credits_per_dollar_positive",
            ),
            models.CheckConstraint(
                condition=Q(markup_percent__gte=0), name="team_markup_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(payload_log_days__lte=MAX_PAYLOAD_LOG_DAYS),
                name="team_payload_log_days_bounded",
            ),
        ]

    def __str__(self) -> str:
        return self.team_id


class VirtualKeyQuerySet(models.QuerySet):
    def usable(self) -> VirtualKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class VirtualKey(models.Model):
    """A team's API key. Only its HMAC digest and a short display form are stored."""

    key_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="keys")
    name = models.CharField(max_length=100, default="default")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=20, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rotated_to",
        editable=False,
    )
    # Set on a key issued by rotation under an `Idempotency-Key` header, so a retried
    # request returns this key (without its plaintext) instead of rotating again.
    # NULL (not "") means "none", so the partial unique constraint ignores those keys.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, editable=False
    )
    rotation_grace_seconds = models.PositiveIntegerField(
        null=True, blank=True, editable=False
    )

    objects = VirtualKeyQuerySet.as_manager()

    class Meta:
        ordering = ["team", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(digest__regex=r"^[0-9a-f]{64}$"),
                name="virtual_key_digest_is_hmac_sha256",
            ),
            models.UniqueConstraint(
                fields=["team", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="virtual_key_idempotency_key_unique_per_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key_prefix} ({self.name})"

    @property
    def status(self) -> str:
        """`active`, `revoked` or `expired`, for lists and the admin."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def is_usable(self, now: timezone.datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class AuditLog(models.Model):
    """Who changed what, and when. Never holds a secret: services pass safe fields."""

    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(
        default=timezone.now, editable=False, db_index=True
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action}"
