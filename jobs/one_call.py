"""A one-call job in two database statements on PostgreSQL.

`jobs.services.one_call_jobs` (job_call_start, job_call_finish) calls these on
PostgreSQL, and its portable ORM code elsewhere (SQLite). Each runs one SQL function
(created by jobs/migrations/0004_one_call_functions.py) that applies the same rules
as the ORM code in one transaction: `job_open` checks the team, reserves credits and
inserts the job, its hold and its call; `job_close` records the call's outcome and
closes the job (capture or release, one deduction). The functions refuse with a code
in their result instead of raising, so that the caller raises the service's own error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from jobs.models import CallStatus, Job, LLMCall


def available() -> bool:
    return connection.vendor == "postgresql"


def _loaded(instance: Job | LLMCall, pk: int) -> None:
    """Mark an instance the function inserted as saved, with its primary key."""
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def job_open(
    *,
    job: Job,
    call: LLMCall,
    credits: int,
    hold_expires_at: datetime,
) -> str | None:
    """Insert the unsaved `job` and `call` and reserve `credits` for the job, or
    answer the refusal's code (team_suspended, team_paused, insufficient_credits)
    having written nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT refusal, job_pk, call_pk FROM one_call_job_open("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, gen_random_uuid(),"
            " %s, %s)",
            [
                job.team_id,
                job.job_id,
                job.job_type,
                job.user_id,
                Job._meta.get_field("metadata").get_db_prep_value(
                    job.metadata, connection
                ),
                call.call_id,
                call.model_alias,
                call.purpose,
                call.streamed,
                call.reserved_tokens,
                call.reserved_cost_usd,
                LLMCall._meta.get_field("call_metadata").get_db_prep_value(
                    call.call_metadata, connection
                ),
                credits,
                hold_expires_at,
                job.created_at,
            ],
        )
        refusal, job_pk, call_pk = cursor.fetchone()
    if refusal is not None:
        return refusal
    _loaded(job, job_pk)
    _loaded(call, call_pk)
    call.job = job  # sets call.job_id, unknown until now
    return None


@dataclass(frozen=True)
class Closed:
    """What one_call_job_close answered. `refusal` is None, "closed" (the job was
    closed with another status meanwhile) or "calls_in_progress"; `charge_wanted`
    is what the job should have cost (more than `credits_charged` when the account
    could not cover it)."""

    refusal: str | None
    job_status: str | None
    credits_charged: int | None
    completed_at: datetime | None
    credits_remaining: int | None
    charge_wanted: int | None


def job_close(
    *,
    call: LLMCall,
    close: bool,
    job_error: str,
    now: datetime,
    stale_before: datetime,
    minimum_charge: int,
) -> Closed:
    """Record `call`'s outcome (already set on the instance) and, with `close`,
    complete its job when the call succeeded or fail it (with `job_error`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT refusal, job_status, credits_charged, completed_at,"
            " credits_remaining, charge_wanted FROM one_call_job_close("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                call.pk,
                call.job_id,
                now,
                call.status == CallStatus.SUCCEEDED,
                call.model_used,
                call.prompt_tokens,
                call.completion_tokens,
                call.total_tokens,
                call.provider_cost_usd,
                call.client_cost_usd,
                call.latency_ms,
                call.finish_reason,
                call.error,
                close,
                job_error,
                stale_before,
                minimum_charge,
            ],
        )
        return Closed(*cursor.fetchone())
