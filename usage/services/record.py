"""Rollups kept current on the hot path: one group's increments per recorded call
outcome, one per closed job (its count and its charge), each in the transaction
that records the outcome or closes the job; a one-call job's call, count and charge
share one. Each is three upserts: the team's group (UsageDaily), the team's month
(UsageMonthly, with the team's organization) and the day's total across teams
(UsageDailyTotal).

The statements are written out once (as `saas_litellm.sql` does for the rest of the
hot path): `INSERT … ON CONFLICT (group) WHERE … DO UPDATE SET n = n + excluded.n`,
which PostgreSQL and SQLite (3.35 or later) both run. Two partial unique constraints
stand for the group (a NULL key is distinct in a plain one); the statement names the
one that applies.

Lock order: a transaction takes the team's credit account row (a capture or a
release) before its rollup rows, so its rollups are written last, just before the
commit: a one-call job's outcome is recorded after its charge, a job's charge after
the capture. Taking them the other way round in one place would let a one-call
job's outcome and another job's charge of the same group deadlock; and a rollup row
taken early would queue a team's requests on it for longer than on the account. A
team's rows (its group's, then its month's) come before its total's. The totals are
shared by the teams of a shard, whose account rows do not order them: two
transactions of two such teams that each write two totals (a failed one-call job:
its call's alias, then ''; a job closed with no successful call and a late call:
'', then the call's alias) could take them in opposite orders at the same moment.
PostgreSQL then ends one of them; a call's outcome is tried again (jobs.pipeline),
a job's close answers 503 and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING

from django.db import connection

from jobs.models import CallStatus, JobStatus, LLMCall
from saas_litellm import sql
from teams.models import Team
from usage.models import (
    COUNTER_FIELDS,
    GROUP_FIELDS,
    MONTH_GROUP_FIELDS,
    TOTAL_GROUP_FIELDS,
    TOTAL_SHARDS,
    UsageDaily,
    UsageDailyTotal,
    UsageMonthly,
)

if TYPE_CHECKING:
    from credits.models import LedgerEntry
    from jobs.models import Job


def day_of(moment: datetime) -> date:
    """The UTC day a moment counts on."""
    return moment.astimezone(UTC).date()


class Rollup(Enum):
    """The rollup tables an outcome or a charge is added to, by group."""

    GROUP = (UsageDaily, GROUP_FIELDS)
    MONTH = (UsageMonthly, MONTH_GROUP_FIELDS)
    TOTAL = (UsageDailyTotal, TOTAL_GROUP_FIELDS)


@lru_cache(maxsize=8)
def _upsert(rollup: Rollup, *, keyed: bool = False, alias_of_job: bool = False) -> str:
    """The upsert of one group's increments: a team's group (UsageDaily), its month
    (UsageMonthly), or its day and alias across teams (UsageDailyTotal). With
    `alias_of_job`, the alias is the one of the job's first successful call (a
    subquery, so still one statement)."""
    model, group = rollup.value
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)

    def column(name: str) -> str:
        return quote(model._meta.get_field(name).column)

    # A month carries its team's organization: looked up by the team in the
    # statement (the one written when the row is inserted; it never changes).
    derived = ["organization"] if rollup is Rollup.MONTH else []
    columns = ", ".join(column(name) for name in [*group, *derived, *COUNTER_FIELDS])
    organization = (
        f"(SELECT {quote(Team._meta.get_field('organization').column)}"  # noqa: S608
        f" FROM {quote(Team._meta.db_table)} WHERE {quote(Team._meta.pk.column)} = %s)"
    )
    alias = "%s"
    if alias_of_job:
        calls = quote(LLMCall._meta.db_table)
        alias = (
            f"COALESCE((SELECT model_alias FROM {calls} WHERE job_id = %s"  # noqa: S608
            " AND status = %s ORDER BY created_at, id LIMIT 1), '')"
        )
    values = ", ".join(
        [alias if name == "model_alias" else "%s" for name in group]
        + [organization] * len(derived)
        + ["%s"] * len(COUNTER_FIELDS)
    )
    increments = ", ".join(
        f"{column(name)} = {table}.{column(name)} + excluded.{column(name)}"
        for name in COUNTER_FIELDS
    )
    if rollup is not Rollup.GROUP:
        target = f"({', '.join(column(name) for name in group)})"
    else:
        # The unique constraints list the team first: the same columns, any order.
        named = ", ".join(column(name) for name in group if keyed or name != "key")
        condition = "IS NOT NULL" if keyed else "IS NULL"
        target = f"({named}) WHERE {column('key')} {condition}"
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT {target} DO UPDATE SET {increments}"
    )


def _upserts(
    *,
    day: date,
    team_id: int,
    key_id: int | None,
    alias: list[object],
    user_id: str,
    job_type: str,
    counters: list[object],
    alias_of_job: bool = False,
) -> None:
    """One group's increments, in its team's row, the team's month and the day's
    total across teams (three statements, sent without waiting in a pipeline).
    `alias` is the alias, or with `alias_of_job` the job's pk and the status its
    call must have."""
    day_value = sql.value(UsageDaily, "day", day)
    sql.run(
        _upsert(Rollup.GROUP, keyed=key_id is not None, alias_of_job=alias_of_job),
        [day_value, team_id, key_id, *alias, user_id, job_type, *counters],
    )
    sql.run(
        _upsert(Rollup.MONTH),
        [
            sql.value(UsageMonthly, "month", day.replace(day=1)),
            team_id,
            team_id,  # its organization's
            *counters,
        ],
    )
    sql.run(
        _upsert(Rollup.TOTAL, alias_of_job=alias_of_job),
        [day_value, *alias, team_id % TOTAL_SHARDS, *counters],
    )


def _counters(**given: int | Decimal) -> list[object]:
    return [sql.value(UsageDaily, name, given.get(name, 0)) for name in COUNTER_FIELDS]


def _closed(job: Job) -> dict[str, int]:
    """A closed job's count, by the status it closed with."""
    return {
        "jobs_completed": int(job.status == JobStatus.COMPLETED),
        "jobs_failed": int(job.status == JobStatus.FAILED),
    }


def usage_record(*, call: LLMCall, credits: int = 0, job_closed: bool = False) -> None:
    """Add a call's recorded outcome (and `credits`, if the caller charged them
    with it; and its job's count with `job_closed`, the job having closed with it
    in this group and on this day) to its group's row of the day the call was
    created. Runs in the caller's transaction, which records the outcome."""
    job = call.job
    _upserts(
        day=day_of(call.created_at),
        team_id=call.team_id,
        key_id=job.key_id,  # the key that opened the job
        alias=[call.model_alias],
        user_id=job.user_id,
        job_type=job.job_type,
        counters=_counters(
            calls=1,
            failed_calls=int(call.status == CallStatus.FAILED),
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            total_tokens=call.total_tokens,
            cached_tokens=call.cached_tokens,
            reasoning_tokens=call.reasoning_tokens,
            credits=credits,
            provider_cost_usd=call.provider_cost_usd,
            client_cost_usd=call.client_cost_usd,
            **(_closed(job) if job_closed else {}),
        ),
    )


def _job_group_record(
    job: Job, *, day: date, credits: int = 0, counted: bool = False
) -> None:
    """One upsert into a job's group (the alias of its first successful call) on
    `day`: its `credits`, and its count when `counted`."""
    _upserts(
        day=day,
        team_id=job.team_id,
        key_id=job.key_id,
        alias=[job.pk, CallStatus.SUCCEEDED.value],
        user_id=job.user_id,
        job_type=job.job_type,
        counters=_counters(credits=credits, **(_closed(job) if counted else {})),
        alias_of_job=True,
    )


def usage_job_record(*, job: Job, entry: LedgerEntry | None) -> None:
    """A job just closed: counted on the day it was created, and the charge it was
    given (its ledger entry, if any) on the entry's day, both in the group of its
    first successful call: one group's increments when both fall on the same day. In the
    settling transaction, after the capture (see the lock order above)."""
    credits = -entry.amount if entry is not None else 0
    created = day_of(job.created_at)
    if credits and day_of(entry.created_at) != created:
        _job_group_record(job, day=day_of(entry.created_at), credits=credits)
        credits = 0
    _job_group_record(job, day=created, credits=credits, counted=True)


def usage_one_call_job_record(*, call: LLMCall, entry: LedgerEntry | None) -> None:
    """A one-call job closed with its call's outcome. When the call succeeded, its
    group is the job's (the job's only call gives it its alias) and its day the
    job's: the call, the job and the charge in one group's increments, unless the charge
    falls on the next day (a call running over midnight)."""
    if call.status != CallStatus.SUCCEEDED:
        usage_record(call=call)
        usage_job_record(job=call.job, entry=entry)
        return
    credits = -entry.amount if entry is not None else 0
    if credits and day_of(entry.created_at) != day_of(call.created_at):
        _job_group_record(call.job, day=day_of(entry.created_at), credits=credits)
        credits = 0
    usage_record(call=call, credits=credits, job_closed=True)
