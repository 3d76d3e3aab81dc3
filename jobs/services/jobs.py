"""Jobs: create, read, update metadata, complete or fail (charged once), expire.

Billing (API.md, "Credits: how billing works"): job create reserves the minimum
charge. In the consumption modes each call first grows the job's hold to the worst case
of everything the job may have used so far (see jobs.services.calls), so concurrent
calls can never spend more than the team has. Closing a job (`job_settle`) charges it
for its successful calls, whatever status the client gives it (`completed` or
`failed`), once: the job row is locked, and the ledger allows one deduction per job. A
job with no successful call costs nothing and releases its hold. Failed provider calls
are free; a stream cut by the client is billed for the tokens it used.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from credits.models import LedgerEntry
from credits.services import (
    MINIMUM_JOB_CHARGE,
    credit_capture,
    credit_release,
    credit_reserve,
    credits_for_job,
)
from jobs.models import OPEN_JOB_STATUSES, CallStatus, Job, JobStatus, LLMCall
from saas_litellm import metrics, sql
from saas_litellm.exceptions import (
    Conflict,
    InvalidInput,
    JobClosed,
    NotFound,
    TeamPaused,
    TeamSuspended,
)
from teams.models import Team, TeamStatus, VirtualKey
from usage.services import (
    usage_job_record,
    usage_one_call_job_record,
    usage_record,
)

# A call still "in progress" after this long belonged to a process that died.
STALE_CALL_AFTER = timedelta(minutes=15)
METADATA_MAX_BYTES = 16_384


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
    key: VirtualKey | None = None,
) -> Job:
    """Open a job and reserve its minimum charge (403 when the team, or the budget
    of `key` (the caller's) or of the end user, cannot pay)."""
    team_can_work_check(team=team)
    with transaction.atomic():
        job = Job.objects.create(
            team=team,
            key=key,
            job_type=job_type,
            user_id=user_id,
            metadata=metadata_check(metadata),
        )
        credit_reserve(
            team=team,
            job_id=job.job_id,
            credits=MINIMUM_JOB_CHARGE,
            key_id=job.key_id,
            user_id=user_id,
        )
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


def _stale_calls_fail(job: Job, now: datetime) -> list[LLMCall]:
    """Fail the job's calls whose process died mid-call; the calls failed here
    (for the usage rollups)."""
    if job.created_at > now - STALE_CALL_AFTER:
        return []  # A job's calls are younger than the job: none of them is stale.
    stale = job.calls.filter(
        status=CallStatus.IN_PROGRESS, created_at__lt=now - STALE_CALL_AFTER
    )
    failed = {
        "status": CallStatus.FAILED,
        "error": "provider_error: abandoned (no outcome recorded)",
        "completed_at": now,
    }
    done = []
    for call in stale:  # rare (a process died mid-call): each counted once
        still_open = LLMCall.objects.filter(pk=call.pk, status=CallStatus.IN_PROGRESS)
        if still_open.update(**failed):
            for name, value in failed.items():
                setattr(call, name, value)
            done.append(call)
    return done


def _usage_recorded(calls: list[LLMCall]) -> None:
    for call in calls:
        usage_record(call=call)


def job_usage(job: Job) -> tuple[int, Decimal]:
    totals = job.calls.filter(status=CallStatus.SUCCEEDED).aggregate(
        tokens=Sum("total_tokens"), cost=Sum("client_cost_usd")
    )
    return totals["tokens"] or 0, totals["cost"] or Decimal(0)


def _usage_and_running(job: Job) -> tuple[int, int, Decimal, int]:
    """The job's successful calls, their usage and the count of calls in progress,
    in one query. It must run after the job's lock is taken, in a statement of its
    own: a subquery of the locking statement would read the calls as they were
    before that statement waited for the lock."""
    ((succeeded, tokens, cost, running),) = sql.rows(
        "SELECT COUNT(*) FILTER (WHERE status = %s),"
        " SUM(total_tokens) FILTER (WHERE status = %s),"
        " SUM(client_cost_usd) FILTER (WHERE status = %s),"
        " COUNT(*) FILTER (WHERE status = %s)"
        " FROM jobs_llmcall WHERE job_id = %s",
        [
            CallStatus.SUCCEEDED.value,
            CallStatus.SUCCEEDED.value,
            CallStatus.SUCCEEDED.value,
            CallStatus.IN_PROGRESS.value,
            job.pk,
        ],
    )
    cost = sql.read(LLMCall, "client_cost_usd", cost) if cost is not None else None
    return succeeded, tokens or 0, cost or Decimal(0), running


def job_lock(*, pk: int) -> Job:
    """The job row with its team, the job row locked until the transaction ends
    (locking the team too would block every job and call insert of the team on
    its foreign key check, and PostgreSQL deadlocks with the credit account lock)."""
    return Job.objects.select_for_update(of=("self",)).select_related("team").get(pk=pk)


def job_settle(
    *,
    job: Job,
    status: str,
    metadata: dict[str, Any] | None = None,
    error_message: str = "",
    actor: str = "",
    call: LLMCall | None = None,
) -> LedgerEntry | None:
    """Close an open job (locked by the caller with `job_lock`) with `status`:
    charge it for its successful calls, or release its hold when it has none.
    Answers the charge's entry (whose `account` is the account as the charge left
    it), None when nothing was charged.

    `call`: the job is a one-call job and this is its call, whose outcome the
    caller's transaction records. Nothing else can change what the job owes, so
    the job needs no lock and its calls are not read: the job's closing UPDATE is
    conditional on its being open (JobClosed otherwise, `job` then holding its
    status), and the call's usage rollup is written here, with the job's count
    and its charge.

    Runs inside the caller's transaction, which any error here must end (the credit
    writes take no savepoint of their own); a Conflict (calls still running, or
    the job closed) is raised before anything that matters is written.
    """
    now = timezone.now()
    if call is None:
        stale = _stale_calls_fail(job, now)
        succeeded, tokens, client_cost, running = _usage_and_running(job)
        if running:
            raise calls_in_progress()
    else:
        stale = []
        succeeded = int(call.status == CallStatus.SUCCEEDED)
        tokens, client_cost = call.total_tokens, call.client_cost_usd or Decimal(0)
    credits = 0
    if succeeded:
        credits = credits_for_job(
            team=job.team, total_tokens=tokens, client_cost=client_cost
        )
    # The job's row first, the credits last: the capture locks the team's account
    # row, which every request of the team needs, until the commit.
    job.status = status
    job.credits_charged = credits
    job.completed_at = now
    job.last_activity_at = now
    job.error_message = error_message or job.error_message
    settled = [
        "status",
        "credits_charged",
        "completed_at",
        "last_activity_at",
        "error_message",
    ]
    if metadata:
        job.metadata = metadata_check({**job.metadata, **metadata})
        settled.append("metadata")
    if call is None:
        sql.update(job, settled)
    elif not sql.update_where(
        job,
        settled,
        "status IN (%s, %s)",
        tuple(status.value for status in OPEN_JOB_STATUSES),
    ):
        job.refresh_from_db(fields=settled)  # closed meanwhile (expired)
        raise JobClosed(f"Job is already {job.status}")
    if not succeeded:
        credit_release(team=job.team, job_id=job.job_id, savepoint=False)
        if call is not None:
            usage_one_call_job_record(call=call, entry=None)
        else:
            usage_job_record(job=job, entry=None)
        _usage_recorded(stale)
        return None
    entry = credit_capture(
        team=job.team,
        job_id=job.job_id,
        credits=credits,
        reason=f"Job {job.job_type}"[:500],
        actor=actor,
        savepoint=False,
    )
    # The usage rollups last: after the account row (usage.services.record).
    if call is not None:
        usage_one_call_job_record(call=call, entry=entry)
    else:
        usage_job_record(job=job, entry=entry)
    _usage_recorded(stale)
    charged = -entry.amount if entry is not None else 0
    if charged != credits:  # capped by what the account had (logged by the capture)
        job.credits_charged = charged
        sql.update(job, ["credits_charged"])
    if charged:
        team_id = job.team.team_id
        transaction.on_commit(
            lambda: metrics.credits_charged(team_id=team_id, credits=charged)
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
    """Complete or fail a job, charged for its successful calls either way (see
    job_settle). A repeat with the same status returns the first result and charges
    nothing more; the row lock makes concurrent completes wait their turn.
    """
    if status not in (JobStatus.COMPLETED, JobStatus.FAILED):
        raise InvalidInput("status must be 'completed' or 'failed'")
    metadata = metadata_check(metadata)
    job = job_get(team=team, job_id=job_id)
    with transaction.atomic():
        job = job_lock(pk=job.pk)
        if not job.is_open:
            if job.status == status:
                return job
            raise JobClosed(f"Job is already {job.status}")
        job_settle(
            job=job,
            status=status,
            metadata=metadata,
            error_message=error_message,
            actor=actor,
        )
        return job


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
                job = job_lock(pk=pk)
                if not job.is_open:
                    continue
                has_success = job.calls.filter(status=CallStatus.SUCCEEDED).exists()
                status = JobStatus.COMPLETED if has_success else JobStatus.FAILED
                job_settle(
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
