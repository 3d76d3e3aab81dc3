"""Rollups recomputed from the raw tables: the proof that the hot path's upserts
agree with the calls and the ledger, and the repair when they do not.

What a rollup row holds, recomputed:
- calls: every call with a recorded outcome (succeeded or failed), on the UTC day it
  was created, in its group (team, the job's key, alias, the job's end user and
  type);
- credits: every deduction of a job in the ledger, on the UTC day of its entry, in
  the group of the job's first successful call ('' as the alias if it has none
  left: its calls were pruned). Deductions that belong to no job are not usage;
- jobs_completed, jobs_failed: every closed job, by status, on the UTC day it was
  created, in the group of its first successful call ('' if none).

Calls past retention are gone (`prune_calls`) while their rollups stay, so the
default range starts after the retention cutoff.

The totals across teams (UsageDailyTotal) are the teams' groups recomputed, summed per
day, alias and shard. A team's months (UsageMonthly) are its days' groups summed per
month, checked and repaired for the months that a range of days holds whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from credits.models import EntryType, LedgerEntry
from jobs.models import OPEN_JOB_STATUSES, CallStatus, Job, JobStatus, LLMCall
from teams.models import Team
from usage.models import (
    COST_FIELDS,
    COUNTER_FIELDS,
    TOTAL_SHARDS,
    UsageDaily,
    UsageDailyTotal,
    UsageMonthly,
)
from usage.services.analytics import closed_days_forget
from usage.services.record import Rollup

Group = tuple[date, int, int | None, str, str, str]
TotalGroup = tuple[date, str, int]
MonthGroup = tuple[date, int]
Counters = tuple[Any, ...]
ZERO = tuple(0 for _ in COUNTER_FIELDS)


@dataclass(frozen=True)
class RollupDifference:
    """A group whose stored counters are not the ones recomputed (zeros: no row):
    a team's group, a team's month, or a day's alias and shard across teams."""

    group: Group | TotalGroup | MonthGroup
    stored: Counters
    expected: Counters
    rollup: Rollup = Rollup.GROUP

    def describe(self) -> str:
        changed = ", ".join(
            f"{name} {stored} != {expected}"
            for name, stored, expected in zip(
                COUNTER_FIELDS, self.stored, self.expected, strict=True
            )
            if stored != expected
        )
        if self.rollup is Rollup.TOTAL:
            day, alias, shard = self.group
            where = f"{day} every team (shard {shard}) alias={alias!r}"
        elif self.rollup is Rollup.MONTH:
            month, team_pk = self.group
            where = f"{month:%Y-%m} team={team_pk} (the month)"
        else:
            day, team_pk, key_pk, alias, user_id, job_type = self.group
            where = (
                f"{day} team={team_pk} key={key_pk} alias={alias!r} user={user_id!r} "
                f"job_type={job_type!r}"
            )
        return f"{where}: stored vs recomputed: {changed}"


def rollups_default_start() -> date:
    """The first day whose calls retention has certainly kept."""
    cutoff = timezone.now() - timedelta(days=settings.CALL_RETENTION_DAYS)
    return cutoff.astimezone(UTC).date() + timedelta(days=1)


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end) as UTC datetimes (end exclusive)."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end, time.min, tzinfo=UTC),
    )


def _money(value: Any) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.00000001"))


# A group's columns, as the recount of calls and that of jobs and charges name them.
CALL_GROUP = (
    "day",
    "team_id",
    "job__key_id",
    "model_alias",
    "job__user_id",
    "job__job_type",
)
JOB_GROUP = ("day", "team_id", "key_id", "alias", "user_id", "job_type")


def _group_of(row: dict[str, Any], names: tuple[str, ...]) -> Group:
    return tuple(row[name] for name in names)  # type: ignore[return-value]


def _expected(start: date, end: date) -> dict[Group, Counters]:
    """The rollups of days [start, end) recomputed from the calls and the ledger."""
    since, until = _bounds(start, end)
    money = DecimalField(max_digits=20, decimal_places=8)
    calls = (
        LLMCall.objects.filter(created_at__gte=since, created_at__lt=until)
        .exclude(status=CallStatus.IN_PROGRESS)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values(*CALL_GROUP)
        .annotate(
            calls=Count("id"),
            failed_calls=Count("id", filter=Q(status=CallStatus.FAILED)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            total_tokens=Sum("total_tokens"),
            cached_tokens=Sum("cached_tokens"),
            reasoning_tokens=Sum("reasoning_tokens"),
            provider_cost_usd=Sum("provider_cost_usd", output_field=money),
            client_cost_usd=Sum("client_cost_usd", output_field=money),
        )
    )
    expected: dict[Group, list[Any]] = {}
    for row in calls:
        expected[_group_of(row, CALL_GROUP)] = [
            _money(row[name]) if name in COST_FIELDS else (row.get(name) or 0)
            for name in COUNTER_FIELDS
        ]
    job = Job.objects.filter(job_id=OuterRef("job_id"))
    first_alias = (
        LLMCall.objects.filter(job_id=OuterRef("pk"), status=CallStatus.SUCCEEDED)
        .order_by("created_at", "id")
        .values("model_alias")[:1]
    )
    charges = (
        LedgerEntry.objects.filter(
            entry_type=EntryType.DEDUCTION, created_at__gte=since, created_at__lt=until
        )
        .filter(Exists(job))
        .annotate(
            day=TruncDate("created_at", tzinfo=UTC),
            team_id=F("account__team_id"),
            key_id=Subquery(job.values("key_id")[:1]),
            user_id=Subquery(job.values("user_id")[:1]),
            job_type=Subquery(job.values("job_type")[:1]),
            alias=Coalesce(
                Subquery(job.annotate(alias=Subquery(first_alias)).values("alias")[:1]),
                Value(""),
            ),
        )
        .order_by()
        .values(*JOB_GROUP)
        .annotate(charged=Sum("amount"))
    )
    credits_at = COUNTER_FIELDS.index("credits")
    completed_at = COUNTER_FIELDS.index("jobs_completed")
    failed_at = COUNTER_FIELDS.index("jobs_failed")
    jobs = (
        Job.objects.filter(created_at__gte=since, created_at__lt=until)
        .exclude(status__in=OPEN_JOB_STATUSES)
        .annotate(
            day=TruncDate("created_at", tzinfo=UTC),
            alias=Coalesce(Subquery(first_alias), Value("")),
        )
        .order_by()
        .values(*JOB_GROUP)
        .annotate(
            completed=Count("id", filter=Q(status=JobStatus.COMPLETED)),
            failed=Count("id", filter=Q(status=JobStatus.FAILED)),
        )
    )
    for row in jobs:
        counters = expected.setdefault(_group_of(row, JOB_GROUP), list(ZERO))
        counters[completed_at] = row["completed"]
        counters[failed_at] = row["failed"]
    for row in charges:
        counters = expected.setdefault(_group_of(row, JOB_GROUP), list(ZERO))
        counters[credits_at] = -row["charged"]
    return {
        group: tuple(counters)
        for group, counters in expected.items()
        if tuple(counters) != ZERO
    }


def _stored(start: date, end: date) -> dict[Group, Counters]:
    rows = (
        UsageDaily.objects.filter(day__gte=start, day__lt=end)
        .order_by()
        .values_list(
            "day",
            "team_id",
            "key_id",
            "model_alias",
            "user_id",
            "job_type",
            *COUNTER_FIELDS,
        )
    )
    return _counted(rows, width=6)


def _counted(rows: Any, *, width: int) -> dict[Any, Counters]:
    """Rows of (*group, *COUNTER_FIELDS), the group `width` columns wide, by group;
    the zeros left out."""
    counted = {}
    for row in rows:
        counters = (*row[width:-2], _money(row[-2]), _money(row[-1]))
        if counters != ZERO:
            counted[row[:width]] = counters
    return counted


def _compared(
    expected: dict[Any, Counters], stored: dict[Any, Counters], rollup: Rollup
) -> list[RollupDifference]:
    return [
        RollupDifference(
            group=group,
            stored=stored.get(group, ZERO),
            expected=expected.get(group, ZERO),
            rollup=rollup,
        )
        for group in sorted(
            expected.keys() | stored.keys(), key=lambda g: (g[0], g[1], str(g[2:]))
        )
        if stored.get(group, ZERO) != expected.get(group, ZERO)
    ]


def _totals_of(groups: dict[Group, Counters]) -> dict[TotalGroup, Counters]:
    """Teams' groups summed per day, alias and shard, as UsageDailyTotal holds them."""
    totals: dict[TotalGroup, Counters] = {}
    for (day, team_pk, _, alias, _, _), counters in groups.items():
        group = (day, alias, team_pk % TOTAL_SHARDS)
        before = totals.get(group, ZERO)
        totals[group] = tuple(a + b for a, b in zip(before, counters, strict=True))
    return totals


def _stored_totals(start: date, end: date) -> dict[TotalGroup, Counters]:
    rows = (
        UsageDailyTotal.objects.filter(day__gte=start, day__lt=end)
        .order_by()
        .values_list("day", "model_alias", "shard", *COUNTER_FIELDS)
    )
    return _counted(rows, width=3)


def _differences(
    start: date, end: date, expected: dict[Group, Counters] | None
) -> list[RollupDifference]:
    """The teams' groups and the totals across teams of days [start, end) that
    disagree with the raw tables (`expected`: the days' groups recomputed, if
    the caller has them)."""
    if expected is None:
        expected = _expected(start, end)
    return _compared(expected, _stored(start, end), Rollup.GROUP) + _compared(
        _totals_of(expected), _stored_totals(start, end), Rollup.TOTAL
    )


def _whole_months(start: date, end: date) -> tuple[date, date]:
    """The months whose every day that can hold usage (none after today) is one of
    days [start, end), as [first day, first day after): the months a check or a
    rebuild of those days answers for."""
    first = start if start.day == 1 else _month_after(start)
    last = end - timedelta(days=1)
    whole = last >= timezone.now().date() or (last + timedelta(days=1)).day == 1
    after = _month_after(last) if whole else last.replace(day=1)
    return first, max(first, after)


def _month_after(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=31)).replace(day=1)


def _month_differences(
    first: date, after: date, days: dict[Group, Counters] | None
) -> list[RollupDifference]:
    """The teams' months [first, after) that disagree with the sum of their days'
    groups: `days` recomputed from the raw tables, or without, the ones stored
    (once the days are repaired)."""
    if days is None:
        days = _stored(first, after)
    summed: dict[MonthGroup, Counters] = {}
    for (day, team_pk, *_), counters in days.items():
        if first <= day < after:
            month = (day.replace(day=1), team_pk)
            before = summed.get(month, ZERO)
            summed[month] = tuple(a + b for a, b in zip(before, counters, strict=True))
    stored = (
        UsageMonthly.objects.filter(month__gte=first, month__lt=after)
        .order_by()
        .values_list("month", "team_id", *COUNTER_FIELDS)
    )
    return _compared(summed, _counted(stored, width=2), Rollup.MONTH)


@contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of the calls, the ledger and the rollups (each call's
    outcome and its rollup commit together, so a snapshot never sees one without
    the other). SQLite's read transaction is a snapshot already; inside a caller's
    transaction (a test's) its isolation level stands."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def rollups_check(*, start: date, end: date) -> list[RollupDifference]:
    """The groups of days [start, end], and the teams' months those days hold
    whole, whose rollups disagree with the raw tables (none: they agree). Reads
    one snapshot; takes no lock."""
    end = end + timedelta(days=1)
    with _snapshot():
        expected = _expected(start, end)
        return _differences(start, end, expected) + _month_differences(
            *_whole_months(start, end), expected
        )


def _lock_rollups() -> None:
    """Hold back the hot path's upserts until the transaction ends: a call whose
    outcome commits after the recount is then added to the rebuilt row, and one
    that committed before it is in the recount."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (UsageDaily, UsageDailyTotal):  # the hot path's order
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def rollups_rebuild(*, start: date, end: date) -> list[RollupDifference]:
    """Recompute the rollups of days [start, end] from the raw tables and repair the
    groups that disagree, then the teams' months those days hold whole; answers
    what was repaired. One short transaction per day, each holding back that
    moment's call outcomes while it runs; the months need no lock (`_month_add`)."""
    repaired: list[RollupDifference] = []
    day = start
    while day <= end:
        with transaction.atomic():
            _lock_rollups()
            differences = _differences(day, day + timedelta(days=1), None)
            for difference in differences:
                write = (
                    _total_write if difference.rollup is Rollup.TOTAL else _group_write
                )
                write(difference.group, difference.expected)
        repaired.extend(differences)
        day += timedelta(days=1)
    with _snapshot():
        months = _month_differences(
            *_whole_months(start, end + timedelta(days=1)), None
        )
    for difference in months:
        _month_add(difference)
    if repaired or months:
        closed_days_forget()  # the spend analytics' sums of those days
    return repaired + months


def _group_write(group: Group, counters: Counters) -> None:
    day, team_pk, key_pk, alias, user_id, job_type = group
    rows = UsageDaily.objects.filter(
        day=day,
        team_id=team_pk,
        key_id=key_pk,
        model_alias=alias,
        user_id=user_id,
        job_type=job_type,
    )
    if counters == ZERO:
        rows.delete()
        return
    values = dict(zip(COUNTER_FIELDS, counters, strict=True))
    if not rows.update(**values):
        UsageDaily.objects.create(
            day=day,
            team_id=team_pk,
            key_id=key_pk,
            model_alias=alias,
            user_id=user_id,
            job_type=job_type,
            **values,
        )


def _total_write(group: TotalGroup, counters: Counters) -> None:
    day, alias, shard = group
    rows = UsageDailyTotal.objects.filter(day=day, model_alias=alias, shard=shard)
    if counters == ZERO:
        rows.delete()
        return
    values = dict(zip(COUNTER_FIELDS, counters, strict=True))
    if not rows.update(**values):
        UsageDailyTotal.objects.create(
            day=day, model_alias=alias, shard=shard, **values
        )


def _month_add(difference: RollupDifference) -> None:
    """Add to a team's month what it lacks against its days, as read in one
    snapshot. Without a lock: every call and charge adds the same increments to a
    month and to its days in one transaction, so what one lacks against the other
    stays the same while they commit."""
    month, team_pk = difference.group
    lacking = {
        name: expected - stored
        for name, stored, expected in zip(
            COUNTER_FIELDS, difference.stored, difference.expected, strict=True
        )
    }
    rows = UsageMonthly.objects.filter(month=month, team_id=team_pk)
    added = {name: F(name) + value for name, value in lacking.items()}
    try:
        with transaction.atomic():
            if not rows.update(**added):
                UsageMonthly.objects.create(
                    month=month,
                    team_id=team_pk,
                    organization_id=Team.objects.values_list(
                        "organization_id", flat=True
                    ).get(pk=team_pk),
                    **lacking,
                )
    except IntegrityError:  # a call's outcome created the row meanwhile
        rows.update(**added)
