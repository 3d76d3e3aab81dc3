"""Jobs and their LLM calls: every write (create, call start/finish, complete, expire).

A call never holds a transaction (or a database connection) while the provider works:
`llm_call_start` checks the job and the team, reserves credits and records the call in
one short transaction; `jobs.calls` awaits the provider with nothing open;
`llm_call_finish` records the outcome in another short transaction. Reads live in
`jobs.selectors`.

Billing: job create reserves the minimum charge. In the consumption modes each call
first grows the job's hold to the worst case of everything the job may have used so
far (successful calls, running calls' estimates, this call's estimate), so concurrent
calls can never spend more than the team has. `job_complete` captures the real charge
once (the job row is locked, and the ledger allows one deduction per job); a failed job
releases its hold. Failed provider calls are free; a stream cut by the client is
billed for the tokens it used. A job completed as "completed" with no successful call
still costs the minimum charge (API.md: one credit per completed job).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from credits.models import CreditHold, HoldStatus
from credits.services import (
    MINIMUM_JOB_CHARGE,
    client_cost_usd,
    credit_capture,
    credit_release,
    credit_reserve,
    credits_for_job,
)
from jobs import llm
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.ratelimit import RateLimitSlot, rate_limit_acquire, rate_limit_release
from saas_litellm.exceptions import (
    Conflict,
    InvalidInput,
    JobClosed,
    NotFound,
    TeamPaused,
    TeamSuspended,
)
from teams.models import BudgetMode, Team, TeamStatus

logger = logging.getLogger(__name__)

# A call still "in progress" after this long belonged to a process that died.
STALE_CALL_AFTER = timedelta(minutes=15)
METADATA_MAX_BYTES = 16_384
USD_PLACES = Decimal("0.00000001")


def metadata_check(metadata: Any, *, name: str = "metadata") -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    if len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        raise InvalidInput(f"{name} must be at most {METADATA_MAX_BYTES} bytes of JSON")
    return metadata


def team_can_work_check(*, team: Team) -> None:
    """Refuse new work for a suspended or paused team (status read fresh)."""
    status = Team.objects.filter(pk=team.pk).values_list("status", flat=True).first()
    if status == TeamStatus.SUSPENDED:
        raise TeamSuspended()
    if status == TeamStatus.PAUSED:
        raise TeamPaused()


# --- Jobs -------------------------------------------------------------------------


def job_create(
    *,
    team: Team,
    job_type: str,
    user_id: str = "",
    metadata: dict[str, Any] | None = None,
) -> Job:
    """Open a job and reserve its minimum charge (403 when the team cannot pay)."""
    team_can_work_check(team=team)
    with transaction.atomic():
        job = Job.objects.create(
            team=team,
            job_type=job_type,
            user_id=user_id,
            metadata=metadata_check(metadata),
        )
        credit_reserve(team=team, job_id=job.job_id, credits=MINIMUM_JOB_CHARGE)
    return job


def job_get(*, team: Team, job_id: str) -> Job:
    """The team's job; a malformed id, an unknown id and another team's job are 404."""
    try:
        parsed = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("Job not found") from None
    job = (
        Job.objects.for_team(team).select_related("team").filter(job_id=parsed).first()
    )
    if job is None:
        raise NotFound("Job not found")
    return job


def job_metadata_update(*, team: Team, job_id: str, metadata: Any) -> Job:
    """Merge keys into the job's metadata (open or closed: it is the team's notes)."""
    updates = metadata_check(metadata)
    with transaction.atomic():
        job = Job.objects.select_for_update().get(
            pk=job_get(team=team, job_id=job_id).pk
        )
        job.metadata = metadata_check({**job.metadata, **updates})
        job.save(update_fields=["metadata"])
    return job


def _stale_calls_fail(job: Job, now: datetime) -> None:
    job.calls.filter(
        status=CallStatus.IN_PROGRESS, created_at__lt=now - STALE_CALL_AFTER
    ).update(
        status=CallStatus.FAILED,
        error="provider_error: abandoned (no outcome recorded)",
        completed_at=now,
    )


def _usage_of(job: Job) -> tuple[int, Decimal]:
    totals = job.calls.filter(status=CallStatus.SUCCEEDED).aggregate(
        tokens=Sum("total_tokens"), cost=Sum("client_cost_usd")
    )
    return totals["tokens"] or 0, totals["cost"] or Decimal(0)


def job_close(
    *,
    job: Job,
    status: str,
    metadata: dict[str, Any] | None = None,
    error_message: str = "",
    actor: str = "",
) -> Job:
    """Close an open job (the caller holds its row lock): charge it or release it."""
    now = timezone.now()
    _stale_calls_fail(job, now)
    if job.calls.filter(status=CallStatus.IN_PROGRESS).exists():
        raise Conflict(
            "The job has LLM calls in progress; complete it when they have finished",
            code="calls_in_progress",
        )
    charged = 0
    if status == JobStatus.COMPLETED:
        tokens, client_cost = _usage_of(job)
        credits = credits_for_job(
            team=job.team, total_tokens=tokens, client_cost=client_cost
        )
        entry = credit_capture(
            team=job.team,
            job_id=job.job_id,
            credits=credits,
            reason=f"Job {job.job_type}"[:500],
            actor=actor,
        )
        charged = -entry.amount if entry is not None else 0
    else:
        credit_release(team=job.team, job_id=job.job_id)
    job.status = status
    job.credits_charged = charged
    job.completed_at = now
    job.last_activity_at = now
    job.error_message = error_message or job.error_message
    if metadata:
        job.metadata = metadata_check({**job.metadata, **metadata})
    job.save()
    return job


def job_complete(
    *,
    team: Team,
    job_id: str,
    status: str,
    metadata: dict[str, Any] | None = None,
    error_message: str = "",
    actor: str = "",
) -> Job:
    """Complete or fail a job. A repeat with the same status returns the first result
    and charges nothing more; the row lock makes concurrent completes wait their turn.
    """
    if status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise InvalidInput("status must be 'completed' or 'failed'")
    metadata = metadata_check(metadata)
    job = job_get(team=team, job_id=job_id)
    with transaction.atomic():
        # Lock the job row only: locking the team row too (select_related joins it)
        # blocks every concurrent job and call insert of the team on its foreign key
        # check, and PostgreSQL deadlocks with the credit account lock.
        job = (
            Job.objects.select_for_update(of=("self",))
            .select_related("team")
            .get(pk=job.pk)
        )
        if not job.is_open:
            if job.status == status:
                return job
            raise JobClosed(f"Job is already {job.status}")
        return job_close(
            job=job,
            status=status,
            metadata=metadata,
            error_message=error_message,
            actor=actor,
        )


def jobs_expire(*, older_than: timedelta, actor: str = "expire_jobs") -> dict[str, int]:
    """Close open jobs idle for longer than `older_than`: completed (and billed for
    what they used) when they have a successful call, else failed (hold released)."""
    cutoff = timezone.now() - older_than
    closed = {"completed": 0, "failed": 0, "skipped": 0}
    for pk in (
        Job.objects.open()
        .filter(last_activity_at__lt=cutoff)
        .values_list("pk", flat=True)
    ):
        try:
            with transaction.atomic():
                job = (
                    Job.objects.select_for_update(of=("self",))
                    .select_related("team")
                    .get(pk=pk)
                )
                if not job.is_open:
                    continue
                has_success = job.calls.filter(status=CallStatus.SUCCEEDED).exists()
                status = JobStatus.COMPLETED if has_success else JobStatus.FAILED
                job_close(
                    job=job,
                    status=status,
                    error_message="" if has_success else "Expired without calls",
                    actor=actor,
                )
        except Conflict:
            closed["skipped"] += 1
            continue
        closed[status] += 1
    return closed


# --- LLM calls --------------------------------------------------------------------


@dataclass
class CallRequest:
    """A validated llm-call body."""

    model: str
    params: llm.CallParams
    purpose: str = ""
    call_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallTicket:
    """A recorded, reserved call waiting for the provider."""

    call: LLMCall
    routes: list[llm.Route]
    slot: RateLimitSlot | None
    team: Team


def call_routes(*, team: Team, request: CallRequest) -> list[llm.Route]:
    """The routes for the requested alias, refusing a max_tokens the model cannot do."""
    routes = llm.route_plan(team=team, alias_name=request.model)
    limit = llm.output_tokens_limit(routes[0])
    if request.params.max_tokens is not None and request.params.max_tokens > limit:
        raise InvalidInput(f"max_tokens must be at most {limit} for this model")
    return routes


def _call_hold(*, team: Team, job: Job, tokens: int, client_cost: Decimal) -> None:
    """Grow the job's hold to the worst case of all it may have used (consumption)."""
    if team.budget_mode == BudgetMode.JOB_BASED:
        return
    used_tokens, used_cost = _usage_of(job)
    running = job.calls.filter(status=CallStatus.IN_PROGRESS).aggregate(
        tokens=Sum("reserved_tokens"), cost=Sum("reserved_cost_usd")
    )
    required = credits_for_job(
        team=team,
        total_tokens=used_tokens + (running["tokens"] or 0) + tokens,
        client_cost=used_cost + (running["cost"] or Decimal(0)) + client_cost,
    )
    held = (
        CreditHold.objects.filter(job_id=job.job_id, status=HoldStatus.OPEN)
        .values_list("amount", flat=True)
        .first()
    ) or 0
    if required > held:
        credit_reserve(team=team, job_id=job.job_id, credits=required - held)


def llm_call_start(
    *, team: Team, job_id: str, request: CallRequest, streamed: bool = False
) -> CallTicket:
    """Check, reserve and record a call in one short transaction; nothing is sent."""
    job = job_get(team=team, job_id=job_id)
    if not job.is_open:
        raise JobClosed()
    routes = call_routes(team=team, request=request)
    tokens, cost = llm.call_worst_case(routes=routes, params=request.params)
    reserved_cost = client_cost_usd(team=team, provider_cost_usd=cost)
    slot = rate_limit_acquire(team=team)
    try:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job.pk)
            if not job.is_open:
                raise JobClosed()
            team_can_work_check(team=team)
            _call_hold(team=team, job=job, tokens=tokens, client_cost=reserved_cost)
            now = timezone.now()
            if job.status == JobStatus.PENDING:
                job.status = JobStatus.IN_PROGRESS
                job.started_at = now
            job.last_activity_at = now
            job.save(update_fields=["status", "started_at", "last_activity_at"])
            call = LLMCall.objects.create(
                job=job,
                team=team,
                model_alias=request.model,
                purpose=request.purpose,
                streamed=streamed,
                reserved_tokens=tokens,
                reserved_cost_usd=reserved_cost,
                call_metadata=request.call_metadata,
                created_at=now,
            )
    except BaseException:
        rate_limit_release(slot=slot)
        raise
    return CallTicket(call=call, routes=routes, slot=slot, team=team)


def llm_call_finish(
    *,
    ticket: CallTicket,
    completion: llm.Completion | None = None,
    error: str = "",
) -> LLMCall:
    """Record a call's outcome (a short transaction) and free its rate-limit slot."""
    call = ticket.call
    now = timezone.now()
    try:
        with transaction.atomic():
            if completion is not None:
                provider_cost = completion.provider_cost_usd.quantize(USD_PLACES)
                call.status = CallStatus.SUCCEEDED
                call.model_used = completion.route.model
                call.prompt_tokens = completion.prompt_tokens
                call.completion_tokens = completion.completion_tokens
                call.total_tokens = completion.total_tokens
                call.provider_cost_usd = provider_cost
                call.client_cost_usd = client_cost_usd(
                    team=ticket.team, provider_cost_usd=provider_cost
                )
                call.latency_ms = completion.latency_ms
                call.finish_reason = completion.finish_reason[:50]
            else:
                call.status = CallStatus.FAILED
                call.error = error[:2000] or "provider_error"
                call.latency_ms = int((now - call.created_at).total_seconds() * 1000)
            call.completed_at = now
            call.save()
            Job.objects.filter(pk=call.job_id).update(last_activity_at=now)
    finally:
        rate_limit_release(
            slot=ticket.slot,
            tokens_used=completion.total_tokens if completion is not None else 0,
        )
    return call
