"""Jobs group a team's LLM calls; each call records tokens, cost and outcome."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from teams.models import Team, VirtualKey


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_JOB_STATUSES = (JobStatus.PENDING, JobStatus.IN_PROGRESS)


class JobQuerySet(models.QuerySet):
    def for_team(self, team: Team) -> JobQuerySet:
        return self.filter(team=team)

    def open(self) -> JobQuerySet:
        return self.filter(status__in=OPEN_JOB_STATUSES)


class Job(models.Model):
    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="jobs")
    # The key that opened the job (its budget pays for the job); empty for jobs
    # opened before keys were recorded. Not indexed: nothing looks jobs up by key.
    key = models.ForeignKey(
        VirtualKey,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    user_id = models.CharField(max_length=200, blank=True)
    job_type = models.CharField(max_length=100)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    error_message = models.TextField(blank=True)
    credits_charged = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # A one-call job (opened by its call: create-and-call, /v1 without X-Job-Id)
    # takes no other call, so its settlement reads no other call and takes no lock
    # beyond its own closing UPDATE (jobs.services.jobs.job_settle).
    one_call = models.BooleanField(default=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "-created_at"]),
            models.Index(fields=["status", "last_activity_at"]),
            # The dashboard's list, newest first; a team's jobs with one status.
            models.Index(fields=["-created_at", "-id"]),
            models.Index(fields=["team", "status", "-created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="job_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(credits_charged__gte=0) | Q(credits_charged__isnull=True),
                name="job_credits_charged_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_type} {self.job_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_JOB_STATUSES


class CallStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class LLMCall(models.Model):
    call_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="calls")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="llm_calls")
    model_alias = models.CharField(max_length=100)
    model_used = models.CharField(max_length=200, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=CallStatus.choices, default=CallStatus.IN_PROGRESS
    )
    streamed = models.BooleanField(default=False)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    # Parts of the counts above, priced at the model's own rates: prompt tokens read
    # from the provider's cache, prompt tokens written to it, and output tokens
    # spent on reasoning.
    cached_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    # The provider reported no usage (or more than the reservation's worst case):
    # the tokens are our estimate, or the worst case.
    usage_estimated = models.BooleanField(default=False)
    provider_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    client_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    # The worst case (tokens, client cost in USD) reserved while the call runs.
    reserved_tokens = models.PositiveBigIntegerField(default=0)
    reserved_cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # A stream's time to its first token: from the provider request to the first
    # chunk carrying part of the answer (None for a call not streamed).
    ttft_ms = models.PositiveIntegerField("TTFT ms", null=True, blank=True)
    finish_reason = models.CharField(max_length=50, blank=True)
    error = models.TextField(blank=True)
    # Operator-only: the deployment that answered ("alias#position") and every
    # deployment tried, in order ({deployment, model, outcome, latency_ms}).
    deployment = models.CharField(max_length=120, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    call_metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "LLM call"
        indexes = [
            models.Index(fields=["team", "-created_at"]),
            # The request log, newest first.
            models.Index(fields=["-created_at", "-id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CallStatus.values), name="call_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(provider_cost_usd__gte=0) & Q(client_cost_usd__gte=0),
                name="call_costs_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_alias} {self.call_id} ({self.status})"


class CallPayload(models.Model):
    """A call's prompt and answer, kept `Team.payload_log_days` days when its team
    asked for it (never otherwise): what the request log's call page shows. No
    header, key or credential is part of it; strings in it that look like API keys
    are replaced (jobs.services.payloads). `prune_calls` deletes it once
    `keep_until` has passed, and with its call."""

    call = models.OneToOneField(
        LLMCall, on_delete=models.CASCADE, primary_key=True, related_name="payload"
    )
    # The messages (or an embedding's input), tools and parameters sent.
    request = models.JSONField()
    # The answers' texts, tool calls and finish reason; None for a failed call
    # (its error is the call's).
    response = models.JSONField(null=True, blank=True)
    keep_until = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"payload of {self.call_id}"


class StoredResponseQuerySet(models.QuerySet):
    def for_team(self, team: Team) -> StoredResponseQuerySet:
        return self.filter(team=team)


class StoredResponse(models.Model):
    """A /v1/responses answer, kept (unless the request said `store: false`) for
    `GET /v1/responses/{id}` and for later turns that name it as their
    `previous_response_id`: a turn's history is the input and output items of its
    ancestors (`ancestor_ids`, oldest first), so a chain needs no provider's memory."""

    response_id = models.CharField(max_length=120, unique=True, editable=False)
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="stored_responses"
    )
    # Kept if calls are ever pruned: the conversation is the team's, not the call's.
    call = models.ForeignKey(
        LLMCall, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    model_alias = models.CharField(max_length=100)
    previous_response_id = models.CharField(max_length=120, blank=True)
    ancestor_ids = models.JSONField(default=list, blank=True)
    # This turn's input items as sent (a string input as one user message item);
    # the output items are the body's `output`.
    input_items = models.JSONField(default=list)
    body = models.JSONField()
    # Characters of input_items and output as JSON (a chain's size is capped).
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = StoredResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.model_alias} {self.response_id}"
