"""Jobs and their LLM calls: every write (create, call start/finish, complete, expire).

A call never holds a transaction (or a database connection) while the provider works:
`llm_call_start` checks the job and the team, reserves credits and records the call in
one short transaction; `jobs.calls` awaits the provider with nothing open;
`llm_call_finish` records the outcome in another short transaction. A one-call job
(create-and-call, /v1/chat/completions) does the same in two transactions in all:
`job_call_start` (job, reservation and call) and `job_call_finish` (outcome, charge or
release). Reads live in `jobs.selectors`.

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

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from credits.models import CreditHold, HoldStatus, LedgerEntry
from credits.services import (
    MINIMUM_JOB_CHARGE,
    client_cost_usd,
    credit_capture,
    credit_release,
    credit_reserve,
    credit_reserve_for_new_job,
    credits_for_job,
)
from jobs import llm, one_call
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.ratelimit import RateLimitSlot, rate_limit_acquire, rate_limit_release
from saas_litellm.exceptions import (
    Conflict,
    InsufficientCredits,
    InvalidInput,
    JobClosed,
    NotFound,
    RateLimited,
    ServiceError,
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
    team_status_check(
        Team.objects.filter(pk=team.pk).values_list("status", flat=True).first()
    )


def team_status_check(status: str | None) -> None:
    if status == TeamStatus.SUSPENDED:
        raise TeamSuspended()
    if status == TeamStatus.PAUSED:
        raise TeamPaused()


def calls_in_progress() -> Conflict:
    return Conflict(
        "The job has LLM calls in progress; complete it when they have finished",
        code="calls_in_progress",
    )


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
    if job.created_at > now - STALE_CALL_AFTER:
        return  # A job's calls are younger than the job: none of them is stale yet.
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


def _usage_and_running(job: Job) -> tuple[int, Decimal, int]:
    """The job's successful usage and its count of calls in progress, in one query."""
    succeeded = Q(status=CallStatus.SUCCEEDED)
    totals = job.calls.aggregate(
        tokens=Sum("total_tokens", filter=succeeded),
        cost=Sum("client_cost_usd", filter=succeeded),
        running=Count("id", filter=Q(status=CallStatus.IN_PROGRESS)),
    )
    return totals["tokens"] or 0, totals["cost"] or Decimal(0), totals["running"]


def job_close(
    *,
    job: Job,
    status: str,
    metadata: dict[str, Any] | None = None,
    error_message: str = "",
    actor: str = "",
) -> Job:
    """Close an open job (the caller holds its row lock): charge it or release it.

    Runs inside the caller's transaction, which any error here must end (the credit
    writes take no savepoint of their own).
    """
    _job_settle(
        job=job,
        status=status,
        metadata=metadata,
        error_message=error_message,
        actor=actor,
    )
    return job


def _job_settle(
    *,
    job: Job,
    status: str,
    metadata: dict[str, Any] | None = None,
    error_message: str = "",
    actor: str = "",
) -> LedgerEntry | None:
    """job_close, answering the charge's entry (whose `account` is the account as
    the charge left it), None when nothing was charged."""
    now = timezone.now()
    _stale_calls_fail(job, now)
    tokens, client_cost, running = _usage_and_running(job)
    if running:
        raise calls_in_progress()
    charged = 0
    entry = None
    if status == JobStatus.COMPLETED:
        credits = credits_for_job(
            team=job.team, total_tokens=tokens, client_cost=client_cost
        )
        entry = credit_capture(
            team=job.team,
            job_id=job.job_id,
            credits=credits,
            reason=f"Job {job.job_type}"[:500],
            actor=actor,
            savepoint=False,
        )
        charged = -entry.amount if entry is not None else 0
    else:
        credit_release(team=job.team, job_id=job.job_id, savepoint=False)
    job.status = status
    job.credits_charged = charged
    job.completed_at = now
    job.last_activity_at = now
    job.error_message = error_message or job.error_message
    if metadata:
        job.metadata = metadata_check({**job.metadata, **metadata})
    job.save(
        update_fields=[
            "status",
            "credits_charged",
            "completed_at",
            "last_activity_at",
            "error_message",
            "metadata",
        ]
    )
    return entry


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
    """A recorded, reserved call waiting for the provider. `closes_job`: the call
    is its job's only one, and recording its outcome closes the job."""

    call: LLMCall
    routes: list[llm.Route]
    slot: RateLimitSlot | None
    team: Team
    closes_job: bool = False


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


def _call_new(
    *,
    job: Job,
    team: Team,
    request: CallRequest,
    streamed: bool,
    tokens: int,
    reserved_cost: Decimal,
    now: datetime,
) -> LLMCall:
    """A call, in progress, with the worst case reserved for it (not saved)."""
    return LLMCall(
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
            call = _call_new(
                job=job,
                team=team,
                request=request,
                streamed=streamed,
                tokens=tokens,
                reserved_cost=reserved_cost,
                now=now,
            )
            call.save(force_insert=True)
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
            _call_outcome_save(ticket, completion, error, now)
            Job.objects.filter(pk=call.job_id).update(last_activity_at=now)
    finally:
        _slot_release(ticket, completion)
    return call


def _slot_release(ticket: CallTicket, completion: llm.Completion | None) -> None:
    rate_limit_release(
        slot=ticket.slot,
        tokens_used=completion.total_tokens if completion is not None else 0,
    )


CALL_OUTCOME_FIELDS = [
    "status",
    "model_used",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "provider_cost_usd",
    "client_cost_usd",
    "latency_ms",
    "finish_reason",
    "error",
    "completed_at",
]


def _call_outcome_save(
    ticket: CallTicket, completion: llm.Completion | None, error: str, now: datetime
) -> None:
    _call_outcome_set(ticket, completion, error, now)
    ticket.call.save(update_fields=CALL_OUTCOME_FIELDS)


def _call_outcome_set(
    ticket: CallTicket, completion: llm.Completion | None, error: str, now: datetime
) -> None:
    call = ticket.call
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


# --- One-call jobs ----------------------------------------------------------------
# POST /v1/chat/completions and /api/jobs/create-and-call: a job with one call. The
# same checks, reservation and records as job_create + llm_call_start, then
# llm_call_finish + job_complete, in one short transaction before the provider call
# and one after it (nothing is re-read that the request already knows). On
# PostgreSQL each transaction is one statement (jobs.one_call).


def job_call_start(
    *,
    team: Team,
    job_type: str,
    user_id: str = "",
    metadata: dict[str, Any] | None = None,
    request: CallRequest,
    streamed: bool = False,
) -> CallTicket:
    """Open a job and record its call, reserving the call's worst case (at least
    the minimum job charge) before anything is sent. Refusals that happen, in the
    two-step flow, after the job is created (rate limit, a consumption call the
    team cannot cover) leave the same failed job behind.

    `team` must be fresh (read by this request's authentication): its status is
    checked before the rate limit, and again, from the database, in the
    transaction that opens the job."""
    metadata = metadata_check(metadata)
    routes = call_routes(team=team, request=request)
    tokens, cost = llm.call_worst_case(routes=routes, params=request.params)
    reserved_cost = client_cost_usd(team=team, provider_cost_usd=cost)
    credits = credits_for_job(team=team, total_tokens=tokens, client_cost=reserved_cost)
    team_status_check(team.status)
    try:
        slot = rate_limit_acquire(team=team)
    except RateLimited as exc:
        _job_refused(team, job_type, user_id, metadata, exc)
        raise
    now = timezone.now()
    job = Job(
        job_id=uuid.uuid4(),
        team=team,
        job_type=job_type,
        user_id=user_id,
        metadata=metadata,
        status=JobStatus.IN_PROGRESS,
        created_at=now,
        started_at=now,
        last_activity_at=now,
    )
    call = _call_new(
        job=job,
        team=team,
        request=request,
        streamed=streamed,
        tokens=tokens,
        reserved_cost=reserved_cost,
        now=now,
    )
    try:
        _job_and_call_insert(job, call, credits)
    except InsufficientCredits as exc:
        rate_limit_release(slot=slot)
        if credits > MINIMUM_JOB_CHARGE:
            # The job's minimum may still be there: the job is then created, and
            # failed by its call's refusal, as in the two-step flow.
            _job_refused(team, job_type, user_id, metadata, exc)
        raise
    except BaseException:
        rate_limit_release(slot=slot)
        raise
    return CallTicket(call=call, routes=routes, slot=slot, team=team, closes_job=True)


ONE_CALL_REFUSALS: dict[str, type[ServiceError]] = {
    "team_suspended": TeamSuspended,
    "team_paused": TeamPaused,
    "insufficient_credits": InsufficientCredits,
}


def _job_and_call_insert(job: Job, call: LLMCall, credits: int) -> None:
    """Check the team, reserve `credits` and insert the job and its call, in one
    transaction (one statement on PostgreSQL)."""
    if one_call.available():
        ttl = timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS)
        refusal = one_call.job_open(
            job=job, call=call, credits=credits, hold_expires_at=job.created_at + ttl
        )
        if refusal is not None:
            raise ONE_CALL_REFUSALS[refusal]()
        return
    with transaction.atomic():
        team_can_work_check(team=job.team)
        job.save(force_insert=True)
        credit_reserve_for_new_job(team=job.team, job_id=job.job_id, credits=credits)
        call.job = job
        call.save(force_insert=True)


def _job_refused(
    team: Team,
    job_type: str,
    user_id: str,
    metadata: dict[str, Any],
    error: ServiceError,
) -> None:
    """A job whose call was refused: created (InsufficientCredits when not even
    its minimum is there), then failed with the refusal, its hold released."""
    job = job_create(team=team, job_type=job_type, user_id=user_id, metadata=metadata)
    job_complete(
        team=team,
        job_id=str(job.job_id),
        status=JobStatus.FAILED,
        error_message=error.detail,
    )


@dataclass
class CallOutcome:
    """A one-call job after its call: the call, the job, and, when the job was
    charged, the credits the team has left."""

    call: LLMCall
    job: Job
    credits_remaining: int | None = None


def job_call_finish(
    *,
    ticket: CallTicket,
    completion: llm.Completion | None = None,
    error: str = "",
    job_error: str | None = None,
) -> CallOutcome:
    """Record the call's outcome and close its job in one short transaction: a
    successful call completes the job (charged once), a failed one fails it with
    `job_error` (its hold released). `job_error=None` after a failure leaves the job
    open, as a cancelled request does. If the job cannot be closed (closed or given
    another call meanwhile) the outcome is still recorded, then the refusal raised.
    """
    now = timezone.now()
    _call_outcome_set(ticket, completion, error, now)
    close = completion is not None or job_error is not None
    try:
        if one_call.available():
            return _job_call_close_sql(ticket, close, job_error or "", now)
        return _job_call_close_orm(ticket, close, job_error or "", now)
    except ServiceError:
        raise
    except Exception:
        # The close failed (a database error): the outcome rolled back with it.
        # Record the call alone, so that its usage is billed when the job is
        # closed later (jobs_expire), then let the error through.
        _call_outcome_rescue(ticket, now)
        raise
    finally:
        _slot_release(ticket, completion)


def _call_outcome_rescue(ticket: CallTicket, now: datetime) -> None:
    try:
        with transaction.atomic():
            ticket.call.save(update_fields=CALL_OUTCOME_FIELDS)
            Job.objects.filter(pk=ticket.call.job_id).update(last_activity_at=now)
    except Exception:
        logger.exception("call %s: outcome not recorded", ticket.call.call_id)


def _job_call_close_sql(
    ticket: CallTicket, close: bool, job_error: str, now: datetime
) -> CallOutcome:
    call = ticket.call
    job = call.job
    closed = one_call.job_close(
        call=call,
        close=close,
        job_error=job_error,
        now=now,
        stale_before=now - STALE_CALL_AFTER,
        minimum_charge=MINIMUM_JOB_CHARGE,
    )
    if closed.job_status is None:  # not asked to close
        job.last_activity_at = now
        return CallOutcome(call=call, job=job)
    if closed.refusal == "calls_in_progress":
        raise calls_in_progress()
    job.status = closed.job_status
    job.credits_charged = closed.credits_charged
    job.completed_at = job.last_activity_at = closed.completed_at
    if closed.refusal == "closed":
        raise JobClosed(f"Job is already {job.status}")
    job.error_message = job_error or job.error_message
    wanted, charged = closed.charge_wanted or 0, closed.credits_charged or 0
    if wanted > charged:
        logger.warning(
            "job %s: charge %s capped at %s credits (account exhausted)",
            job.job_id,
            wanted,
            charged,
        )
    return CallOutcome(call=call, job=job, credits_remaining=closed.credits_remaining)


def _job_call_close_orm(
    ticket: CallTicket, close: bool, job_error: str, now: datetime
) -> CallOutcome:
    call = ticket.call
    job = call.job
    refusal: ServiceError | None = None
    entry = None
    with transaction.atomic():
        call.save(update_fields=CALL_OUTCOME_FIELDS)
        if not close:
            Job.objects.filter(pk=job.pk).update(last_activity_at=now)
            return CallOutcome(call=call, job=job)
        status = (
            JobStatus.COMPLETED
            if call.status == CallStatus.SUCCEEDED
            else JobStatus.FAILED
        )
        # Only the job row is locked, as job_complete does.
        locked = (
            Job.objects.select_for_update(of=("self",))
            .select_related("team")
            .get(pk=job.pk)
        )
        if not locked.is_open:
            if locked.status != status:
                refusal = JobClosed(f"Job is already {locked.status}")
            job = locked
        else:
            try:
                entry = _job_settle(job=locked, status=status, error_message=job_error)
            except Conflict as exc:
                # Raised before any write of the settlement: the outcome stands.
                refusal = exc
            else:
                job = locked
    if refusal is not None:
        raise refusal
    remaining = entry.account.credits_remaining if entry is not None else None
    return CallOutcome(call=call, job=job, credits_remaining=remaining)
