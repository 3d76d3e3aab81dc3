"""LLM calls on an open job: check, reserve and record before the provider is called,
record the outcome after.

A call never holds a transaction (or a database connection) while the provider works:
`llm_call_start` checks the job and the team, reserves credits and records the call in
one short transaction; `jobs.calls` awaits the provider with nothing open;
`llm_call_finish` records the outcome in another short transaction.
"""

from __future__ import annotations

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
    credits_for_job,
)
from jobs import llm
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.ratelimit import RateLimitSlot, rate_limit_acquire, rate_limit_release
from jobs.services.jobs import (
    _usage_of,
    job_get,
    team_can_work_check,
)
from saas_litellm.exceptions import (
    InvalidInput,
    JobClosed,
)
from teams.models import BudgetMode, Team


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
        provider_cost = completion.provider_cost_usd.quantize(USD_QUANTUM)
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
