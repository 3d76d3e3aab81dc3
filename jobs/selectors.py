"""Reads behind the jobs API: job views, cost summaries, lists and usage (usage
reads the daily rollups of `usage.models`, job counts the jobs).

Everything a team sees is in its own terms: aliases, tokens and credits; real costs
are only included for the operator (`include_costs`).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from credits.services import USD_QUANTUM, credit_account_get
from jobs.models import OPEN_JOB_STATUSES, CallStatus, Job, JobStatus, LLMCall
from saas_litellm import sql
from saas_litellm.exceptions import InvalidInput
from teams.models import Organization, Team
from usage.models import UsageDaily, UsageMonthly

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PUBLIC_CALL_ERRORS = {
    "provider_timeout": "LLM call timed out",
    "provider_error": "LLM call failed",
}


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a `Z`, as the contract shows timestamps."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_calls(job: Job) -> list[dict[str, Any]]:
    return [
        {
            "call_id": str(call.call_id),
            "purpose": call.purpose,
            "model": call.model_alias,
            "status": call.status,
            "tokens": call.total_tokens,
            "latency_ms": call.latency_ms,
            "error": call_public_error(call),
        }
        for call in job.calls.all()
    ]


def call_public_error(call: LLMCall) -> str | None:
    if call.status != CallStatus.FAILED:
        return None
    return PUBLIC_CALL_ERRORS.get(call.error.split(":", 1)[0], "LLM call failed")


def job_costs(job: Job) -> dict[str, Any]:
    """The team-facing cost summary of a job (no real costs, no provider names)."""
    counts = job.calls.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=CallStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=CallStatus.FAILED)),
        tokens=Sum("total_tokens", filter=Q(status=CallStatus.SUCCEEDED)),
        latency=Sum("latency_ms", filter=Q(latency_ms__isnull=False)),
        timed=Count("id", filter=Q(latency_ms__isnull=False)),
    )
    charged = job.credits_charged or 0
    return {
        "total_calls": counts["total"],
        "successful_calls": counts["succeeded"],
        "failed_calls": counts["failed"],
        "total_tokens": counts["tokens"] or 0,
        "credits_charged": charged,
        "credit_applied": charged > 0,
        "credits_remaining": credit_account_get(team=job.team).credits_remaining,
        "avg_latency_ms": (counts["latency"] or 0) // counts["timed"]
        if counts["timed"]
        else 0,
    }


def job_detail(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.job_id),
        "team_id": job.team.team_id,
        "job_type": job.job_type,
        "user_id": job.user_id,
        "status": job.status,
        "metadata": job.metadata,
        "error_message": job.error_message,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "credits_charged": job.credits_charged,
    }


def job_completion_result(job: Job) -> dict[str, Any]:
    return {
        "job_id": str(job.job_id),
        "status": job.status,
        "completed_at": iso(job.completed_at),
        "costs": job_costs(job),
        "calls": job_calls(job),
    }


# --- Usage --------------------------------------------------------------------------

PERIOD_PATTERN = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def period_parse(period: str | None) -> tuple[str, datetime, datetime]:
    """`YYYY-MM` or `YYYY-MM-DD` (UTC) → (label, start, end); default this month."""
    if not period:
        now = timezone.now()
        period = f"{now.year:04d}-{now.month:02d}"
    match = PERIOD_PATTERN.match(period)
    if match is None:
        raise InvalidInput("period must be YYYY-MM or YYYY-MM-DD")
    year, month, day = match.groups()
    try:
        if day is None:
            start = datetime(int(year), int(month), 1, tzinfo=UTC)
            days = calendar.monthrange(start.year, start.month)[1]
            end = start + timedelta(days=days)
        else:
            start = datetime(int(year), int(month), int(day), tzinfo=UTC)
            end = start + timedelta(days=1)
    except (ValueError, OverflowError):  # no such day, or past the year 9999
        raise InvalidInput(
            "period must be a real date: YYYY-MM or YYYY-MM-DD"
        ) from None
    return period, start, end


def _money(value: Decimal | None) -> str:
    return format((value or Decimal(0)).quantize(USD_QUANTUM), "f")


# A rollup row's counters as usage sums them, by the names the totals use.
ROLLUP_COUNTERS = {
    "completed": "jobs_completed",
    "failed": "jobs_failed",
    "credits": "credits",
    "tokens": "total_tokens",
    "cost": "provider_cost_usd",
}


def _rollup_sums(rollups: Any, group_by: str) -> Any:
    """The rollups' counters summed per value of `group_by`: (group, *counters)."""
    return (
        rollups.order_by()
        .values(group_by)
        .annotate(
            **{
                name: Sum(field, default=Decimal(0) if name == "cost" else 0)
                for name, field in ROLLUP_COUNTERS.items()
            }
        )
        .values_list(group_by, *ROLLUP_COUNTERS)
    )


def _open_jobs(jobs: Any, group_by: str) -> dict[Any, int]:
    """The jobs still open among `jobs`, counted per value of `group_by` (few: jobs
    close in minutes, and an index finds them by status)."""
    return dict(
        jobs.filter(status__in=OPEN_JOB_STATUSES)
        .order_by()
        .values_list(group_by)
        .annotate(open=Count("id"))
    )


def _usage_totals(
    rollup_rows: Any, open_jobs: dict[Any, int]
) -> dict[Any, dict[str, Any]]:
    """Usage per group over the period's days: from the usage rollups (`rollup_rows`:
    (group, *ROLLUP_COUNTERS), kept with each call, charge and closed job, so their
    cost is the days' and groups', not the calls' or the jobs'), the jobs closed by
    status, the credits charged, tokens and provider cost; from `open_jobs`
    (`_open_jobs` of the period's jobs), the ones still open.

    Grouped queries, however many groups there are: a team chooses its job types
    freely, so a query per type would let it set how many queries a request costs.
    """
    totals = {
        group: {
            "total": completed + failed,
            "completed": completed,
            "failed": failed,
            "credits": credits,
            "tokens": tokens,
            "cost": cost,
        }
        for group, completed, failed, credits, tokens, cost in rollup_rows
    }
    for group, count in open_jobs.items():
        totals.setdefault(group, _totals_sum([]))["total"] += count
    return totals


def _rollups_of(start: datetime, end: datetime) -> Any:
    """The usage rollups of the days [start, end) (UTC midnights)."""
    return UsageDaily.objects.filter(day__gte=start.date(), day__lt=end.date())


def _totals_sum(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals of several groups together (exact: integers and Decimals)."""
    keys = ("total", "completed", "failed", "credits", "tokens")
    return {
        **{key: sum(group[key] for group in groups) for key in keys},
        "cost": sum((group["cost"] for group in groups), Decimal(0)),
    }


def _usage_summary(totals: dict[str, Any], *, include_costs: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "total_jobs": totals["total"],
        "successful_jobs": totals["completed"],
        "failed_jobs": totals["failed"],
        "credits_used": totals["credits"],
        "total_tokens": totals["tokens"],
    }
    if include_costs:
        cost, count = totals["cost"], totals["total"]
        summary["total_cost_usd"] = _money(cost)
        summary["avg_cost_per_job"] = _money(cost / count if count else Decimal(0))
    return summary


def team_usage(
    *, team: Team, period: str | None, include_costs: bool
) -> dict[str, Any]:
    """Jobs, credits and tokens of a team over a month or a day (UTC)."""
    label, start, end = period_parse(period)
    jobs = Job.objects.for_team(team).filter(created_at__gte=start, created_at__lt=end)
    rollups = _rollups_of(start, end).for_team(team)
    with sql.custom_plans():  # one team may hold a third of the calls
        by_type = _usage_totals(
            _rollup_sums(rollups, "job_type"), _open_jobs(jobs, "job_type")
        )
    job_types: dict[str, Any] = {}
    for job_type, totals in sorted(by_type.items()):
        job_types[job_type] = {
            "count": totals["total"],
            "credits_used": totals["credits"],
            "total_tokens": totals["tokens"],
        }
        if include_costs:
            job_types[job_type]["cost_usd"] = _money(totals["cost"])
    return {
        "team_id": team.team_id,
        "period": label,
        "summary": _usage_summary(
            _totals_sum(list(by_type.values())), include_costs=include_costs
        ),
        "job_types": job_types,
    }


def organization_usage(
    *,
    organization: Organization,
    period: str | None,
    limit: int = 100,
    cursor: str = "",
) -> dict[str, Any]:
    """The operator's view of an organization's usage: the summary of all its teams,
    and team by team a page of `limit` teams (by team id, after `cursor`), so that
    the answer costs what the teams shown cost, not what the organization's size
    does. Over a month, from each team's month (a row per team, nothing to group)."""
    label, start, end = period_parse(period)
    teams = organization.teams.order_by("team_id")
    if cursor:
        teams = teams.filter(team_id__gt=cursor)
    rows = list(teams.values_list("pk", "team_id")[: limit + 1])
    page, more = rows[:limit], len(rows) > limit
    # The page's teams are those from its first team id to its last: two parameters
    # however long the page (a list of 1 000 ids took 13 ms at 2 M calls, this 6).
    shown = (
        Q(team__team_id__gte=page[0][1], team__team_id__lte=page[-1][1])
        if page
        else Q(pk__in=[])
    )
    if end - start > timedelta(days=1):
        months = UsageMonthly.objects.filter(
            organization=organization, month=start.date()
        )
        whole = _rollup_sums(months, "organization")
        shown_rows = months.filter(shown).values_list("team", *ROLLUP_COUNTERS.values())
    else:
        days = _rollups_of(start, end).filter(team__organization=organization)
        whole = _rollup_sums(days, "team__organization")
        shown_rows = _rollup_sums(days.filter(shown), "team")
    jobs = Job.objects.filter(
        team__organization=organization, created_at__gte=start, created_at__lt=end
    )
    with sql.custom_plans():  # one team may hold a third of the calls
        open_jobs = _open_jobs(jobs, "team")
        by_team = _usage_totals(shown_rows, open_jobs)
        summary = _usage_totals(whole, {organization.pk: sum(open_jobs.values())})
    nothing = _totals_sum([])
    return {
        "organization_id": organization.organization_id,
        "period": label,
        "summary": _usage_summary(summary[organization.pk], include_costs=True),
        "teams": {
            team_id: _usage_summary(by_team.get(pk, nothing), include_costs=True)
            for pk, team_id in page
        },
        "next_cursor": page[-1][1] if more else None,
    }


def job_cursor_encode(job: Job) -> str:
    """A keyset cursor: where a page of a team's jobs (newest first) ended."""
    micros = (job.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{job.pk}"


def job_cursor_decode(cursor: str) -> tuple[datetime, int]:
    """The inverse of job_cursor_encode (the serializer checked the form). A moment
    past datetime's range is its end: every job comes before it."""
    micros, pk = (int(part) for part in cursor.split("_"))
    try:
        moment = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        moment = datetime.max.replace(tzinfo=UTC)
    return moment, pk


def team_jobs_list(
    *,
    team: Team,
    status: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A team's jobs, newest first. With a cursor, a keyset page: the rows after the
    cursor by the (team, created_at) index, however deep, and no count (an empty
    cursor is the first keyset page); without, the older `offset` page and the
    total."""
    jobs = (
        Job.objects.for_team(team).select_related("team").order_by("-created_at", "-id")
    )
    if status:
        status = status.lower()
        if status not in JobStatus.values:
            raise InvalidInput(f"status must be one of {', '.join(JobStatus.values)}")
        jobs = jobs.filter(status=status)
    if cursor is not None:
        page, total, offset = jobs, None, 0
    if cursor:
        moment, pk = job_cursor_decode(cursor)
        # The first condition alone bounds the index scan; the OR settles ties.
        page = jobs.filter(
            Q(created_at__lt=moment) | Q(created_at=moment, pk__lt=pk),
            created_at__lte=moment,
        )
    with sql.custom_plans():  # one team may hold a third of the jobs
        if cursor is None:
            page = jobs[offset:]
            total = jobs.count()
        rows = list(page[: limit + 1])
    return {
        "team_id": team.team_id,
        "total": total,
        "limit": limit,
        "offset": offset,
        "jobs": [job_detail(job) for job in rows[:limit]],
        "next_cursor": job_cursor_encode(rows[limit - 1])
        if len(rows) > limit
        else None,
    }
