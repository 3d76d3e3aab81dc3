"""LLM calls: check, reserve and record before the provider is called, record the
outcome (and, for a one-call job, settle the job) after.

A call never holds a transaction (or a database connection) while the provider works:
the start is one short transaction, the outcome another. Two ways in:
- `llm_call_start`: a call on a job the team opened (`/api/jobs/{id}/llm-call`, `/v1`
  with `X-Job-Id`); the job is settled when the team completes it.
- `one_call_job_start`: a job opened for exactly one call (`/v1` without `X-Job-Id`,
  `/api/jobs/create-and-call`); recording the call's outcome closes its job. It
  takes no other call (409 `one_call_job`), so closing it reads no other call.
A refused request (team status, credits, rate limit, model access) writes nothing.
`llm_call_finish` records the outcome of either kind.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from credits.models import CreditHold, HoldStatus
from credits.services import (
    USD_QUANTUM,
    client_cost_usd,
    credit_reserve,
    credit_reserve_for_new_job,
    credit_reserve_refusals,
    credits_for_job,
)
from jobs import gateway, pricing
from jobs.gateway import CallParams, Completion
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.ratelimit import RateLimitSlot, rate_limit_acquire, rate_limit_release
from jobs.routing import Attempts, call_routes, plan_fitting
from jobs.services.jobs import (
    job_get,
    job_settle,
    job_usage,
    metadata_check,
    team_can_work_check,
    team_status_check,
)
from jobs.services.payloads import call_payload_record
from saas_litellm import sql
from saas_litellm.exceptions import JobClosed, OneCallJob, ServiceError
from teams.models import BudgetMode, Team, VirtualKey
from usage.services import usage_record

logger = logging.getLogger(__name__)


@dataclass
class CallRequest:
    """A validated call: the alias, what to send, and the team's notes on it."""

    model: str
    params: CallParams
    purpose: str = ""
    call_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class NewJob:
    """The job a one-call request opens."""

    job_type: str
    user_id: str = ""
    metadata: dict[str, Any] | None = None


@dataclass
class CallTicket:
    """A recorded, reserved call waiting for the provider. `closes_job`: the call
    is its job's only one, and recording its outcome closes the job."""

    call: LLMCall
    attempts: Attempts
    params: CallParams
    slot: RateLimitSlot | None
    team: Team
    closes_job: bool = False


@dataclass
class CallOutcome:
    """A recorded call and its job; for a one-call job that was charged, the
    credits the team has left."""

    call: LLMCall
    job: Job
    credits_remaining: int | None = None


def _call_hold(*, team: Team, job: Job, tokens: int, client_cost: Decimal) -> None:
    """Grow the job's hold to the worst case of all it may have used (consumption)."""
    if team.budget_mode == BudgetMode.JOB_BASED:
        return
    used_tokens, used_cost = job_usage(job)
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
        credit_reserve(
            team=team,
            job_id=job.job_id,
            credits=required - held,
            key_id=job.key_id,
            user_id=job.user_id,
        )


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


def _worst_case(team: Team, request: CallRequest) -> tuple[Attempts, int, Decimal]:
    """The deployments the call may try, in order (those the prompt fits, not
    cooling down), and its worst case over every deployment it may reach."""
    plan = call_routes(
        team=team, alias_name=request.model, max_tokens=request.params.max_tokens
    )
    prompt = pricing.prompt_estimate(plan.routes[0].model, request.params)
    plan = plan_fitting(plan, team=team, prompt_tokens=prompt)
    gateway.params_check(plan.routes, request.params)
    attempts = Attempts.of(plan)
    tokens, cost = pricing.call_worst_case(
        routes=plan.routes, params=request.params, prompt_tokens=prompt
    )
    return attempts, tokens, client_cost_usd(team=team, provider_cost_usd=cost)


def llm_call_start(
    *, team: Team, job_id: str, request: CallRequest, streamed: bool = False
) -> CallTicket:
    """Check, reserve and record a call on an open job in one short transaction;
    nothing is sent."""
    job = job_get(team=team, job_id=job_id)
    if not job.is_open:
        raise JobClosed()
    if job.one_call:
        raise OneCallJob()
    attempts, tokens, reserved_cost = _worst_case(team, request)
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
    return CallTicket(
        call=call, attempts=attempts, params=request.params, slot=slot, team=team
    )


def one_call_job_start(
    *,
    team: Team,
    new_job: NewJob,
    request: CallRequest,
    streamed: bool = False,
    key: VirtualKey | None = None,
) -> CallTicket:
    """Open a job and record its one call, reserving the call's worst case (at least
    the minimum job charge), in one short transaction; nothing is sent. A refusal
    writes nothing.

    `team` must be fresh (read by this request's authentication): its status is
    checked before the rate limit, and again, from the database, by the
    reservation. `key`, the caller's, opens the job: its budget pays too."""
    metadata = metadata_check(new_job.metadata)
    attempts, tokens, reserved_cost = _worst_case(team, request)
    credits = credits_for_job(team=team, total_tokens=tokens, client_cost=reserved_cost)
    team_status_check(team.status)
    slot = rate_limit_acquire(team=team)
    now = timezone.now()
    job = Job(
        job_id=uuid.uuid4(),
        team=team,
        key=key,
        job_type=new_job.job_type,
        user_id=new_job.user_id,
        metadata=metadata,
        status=JobStatus.IN_PROGRESS,
        created_at=now,
        started_at=now,
        last_activity_at=now,
        one_call=True,
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
        with (
            credit_reserve_refusals(team=team),
            sql.pipelined(),
            transaction.atomic(),
        ):
            # Nothing here waits for an answer: all of it travels with the commit.
            job_pk_set = sql.insert_sent(job)
            call.job = job
            call_pk_set = sql.insert_sent(call, via=(("job", "job_id"),))
            # Last: the reservation locks the team's account row until the commit.
            credit_reserve_for_new_job(
                team=team,
                job_id=job.job_id,
                credits=credits,
                key_id=job.key_id,
                user_id=job.user_id,
            )
        job_pk_set()
        call_pk_set()
        call.job = job
    except BaseException:
        rate_limit_release(slot=slot)
        raise
    return CallTicket(
        call=call,
        attempts=attempts,
        params=request.params,
        slot=slot,
        team=team,
        closes_job=True,
    )


CALL_OUTCOME_FIELDS = [
    "status",
    "model_used",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "provider_cost_usd",
    "client_cost_usd",
    "latency_ms",
    "ttft_ms",
    "finish_reason",
    "error",
    "deployment",
    "attempts",
    "completed_at",
]


def _call_outcome_set(
    ticket: CallTicket,
    completion: Completion | None,
    error: str,
    now: datetime,
    at_worst_case: bool,
) -> None:
    call = ticket.call
    if completion is not None:
        pricing.usage_settle(
            completion,
            params=ticket.params,
            worst_case_tokens=call.reserved_tokens,
            at_worst_case=at_worst_case,
        )
        provider_cost = pricing.completion_cost_usd(completion).quantize(USD_QUANTUM)
        call.status = CallStatus.SUCCEEDED
        call.model_used = completion.route.model
        call.deployment = completion.route.label
        call.prompt_tokens = completion.prompt_tokens
        call.completion_tokens = completion.completion_tokens
        call.total_tokens = completion.total_tokens
        call.cached_tokens = completion.cached_tokens
        call.cache_write_tokens = completion.cache_write_tokens
        call.reasoning_tokens = completion.reasoning_tokens
        call.usage_estimated = completion.usage_estimated
        call.provider_cost_usd = provider_cost
        call.client_cost_usd = client_cost_usd(
            team=ticket.team, provider_cost_usd=provider_cost
        )
        call.latency_ms = completion.latency_ms
        call.ttft_ms = completion.ttft_ms
        call.finish_reason = completion.finish_reason[:50]
    else:
        call.status = CallStatus.FAILED
        call.error = error[:2000] or "provider_error"
        call.latency_ms = int((now - call.created_at).total_seconds() * 1000)
    call.attempts = ticket.attempts.log
    call.completed_at = now


def llm_call_finish(
    *,
    ticket: CallTicket,
    completion: Completion | None = None,
    error: str = "",
    job_error: str | None = None,
    at_worst_case: bool = False,
) -> CallOutcome:
    """Record a call's outcome in one short transaction and free its rate-limit slot.

    `completion` is a success (its missing usage estimated, or taken at the worst
    case with `at_worst_case`); without it the call failed with `error`. A one-call
    job is closed in the same transaction: completed after a success (charged
    once), failed with `job_error` after a failure (its hold released);
    `job_error=None` after a failure leaves it open, as a cancelled request does.
    If the job cannot be closed (closed or given another call meanwhile) the
    outcome is still recorded, then the refusal raised."""
    now = timezone.now()
    _call_outcome_set(ticket, completion, error, now, at_worst_case)
    close = ticket.closes_job and (completion is not None or job_error is not None)
    try:
        return _call_outcome_save(
            ticket, completion, close=close, job_error=job_error or ""
        )
    except ServiceError:
        raise
    except Exception:
        # The close failed (a database error): the outcome rolled back with it.
        # Record the call alone, so that its usage is billed when the job is
        # closed later (jobs_expire), then let the error through.
        if close:
            _call_outcome_rescue(ticket, now)
        raise
    finally:
        rate_limit_release(
            slot=ticket.slot,
            tokens_used=completion.total_tokens if completion is not None else 0,
        )


def _call_outcome_save(
    ticket: CallTicket, completion: Completion | None, *, close: bool, job_error: str
) -> CallOutcome:
    call = ticket.call
    job = call.job
    refusal: ServiceError | None = None
    entry = None
    with sql.pipelined(), transaction.atomic():
        sql.update(call, CALL_OUTCOME_FIELDS)
        call_payload_record(
            call=call,
            team=ticket.team,
            params=ticket.params,
            completion=completion,
            now=call.completed_at,
        )
        if not close:
            Job.objects.filter(pk=job.pk).update(last_activity_at=call.completed_at)
            usage_record(call=call)  # its day's rollup, in this transaction
            return CallOutcome(call=call, job=job)
        status = (
            JobStatus.COMPLETED
            if call.status == CallStatus.SUCCEEDED
            else JobStatus.FAILED
        )
        try:
            # Writes the call's usage rollup with the charge.
            entry = job_settle(
                job=job, status=status, error_message=job_error, call=call
            )
        except JobClosed as exc:
            # Closed meanwhile (expired), before any write of the settlement: the
            # outcome stands, and its rollup, last (usage.services.record).
            if job.status != status:
                refusal = exc
            usage_record(call=call)
    call.job = job
    if refusal is not None:
        raise refusal
    remaining = entry.account.credits_remaining if entry is not None else None
    return CallOutcome(call=call, job=job, credits_remaining=remaining)


def _call_outcome_rescue(ticket: CallTicket, now: datetime) -> None:
    try:
        with transaction.atomic():
            ticket.call.save(update_fields=CALL_OUTCOME_FIELDS)
            Job.objects.filter(pk=ticket.call.job_id).update(last_activity_at=now)
            usage_record(call=ticket.call)
    except Exception:
        logger.exception("call %s: outcome not recorded", ticket.call.call_id)
