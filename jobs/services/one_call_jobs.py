"""One-call jobs: POST /v1/chat/completions and /api/jobs/create-and-call.

The same checks, reservation and records as job_create + llm_call_start, then
llm_call_finish + job_complete, in one short transaction before the provider call and
one after it (nothing is re-read that the request already knows). On PostgreSQL each
transaction is one statement (jobs.one_call); elsewhere the ORM code below.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from credits.services import (
    MINIMUM_JOB_CHARGE,
    client_cost_usd,
    credit_reserve_for_new_job,
    credits_for_job,
)
from jobs import llm, one_call
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.ratelimit import rate_limit_acquire, rate_limit_release
from jobs.services.jobs import (
    STALE_CALL_AFTER,
    _job_settle,
    calls_in_progress,
    job_complete,
    job_create,
    metadata_check,
    team_can_work_check,
    team_status_check,
)
from jobs.services.llm_calls import (
    CALL_OUTCOME_FIELDS,
    CallRequest,
    CallTicket,
    _call_new,
    _call_outcome_set,
    _slot_release,
    call_routes,
)
from saas_litellm.exceptions import (
    Conflict,
    InsufficientCredits,
    JobClosed,
    RateLimited,
    ServiceError,
    TeamPaused,
    TeamSuspended,
)
from teams.models import Team

logger = logging.getLogger(__name__)


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


_ONE_CALL_REFUSALS: dict[str, type[ServiceError]] = {
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
            raise _ONE_CALL_REFUSALS[refusal]()
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
