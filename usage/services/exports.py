"""Usage exports: the rollups of a period, summed by the columns asked for, in order;
and the request log of a period, one row per call.

The rollups' export reads the rollups only, so it costs what its days and groups
cost, not what the number of calls does; ordered by day or team first (the default:
day, then team), it is read a piece at a time. The request log's reads the calls of the
period in time order along the calls' (created_at) indexes. Rows are read through a
cursor as they are written out. A team's export is its own rows and has no cost
columns (teams never see costs, nor the models and deployments behind an alias);
the operator's has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Q, QuerySet, Sum

from jobs.models import LLMCall
from saas_litellm import sql
from saas_litellm.exceptions import InvalidInput
from teams.models import Team
from usage.models import COST_FIELDS, COUNTER_FIELDS, JOB_FIELDS, UsageDaily

# group_by name → (output column, what it reads)
GROUPS = {
    "day": ("day", "day"),
    "team": ("team_id", "team__team_id"),
    "key": ("key_id", "key__key_id"),
    "alias": ("model_alias", "model_alias"),
    "user": ("user_id", "user_id"),
}
GROUP_NAMES = tuple(GROUPS)
COST_COLUMNS = COST_FIELDS
COUNT_COLUMNS = tuple(
    name for name in COUNTER_FIELDS if name not in COST_FIELDS + JOB_FIELDS
)
MAX_DAYS = 366
EXPORT_BATCH = 2000
EXPORT_TEAMS = 1000
USD = Decimal("0.00000001")


@dataclass
class UsageExport:
    """What an export holds: its columns, its rows (read as they are consumed) and
    the name it is downloaded under."""

    columns: list[str]
    rows: Iterator[dict[str, Any]]
    filename_stem: str
    group_by: list[str] = field(default_factory=list)


def usage_export_group_by(value: str | None) -> list[str]:
    """`day,team,…` → the group columns in the order given (duplicates once); every
    column when empty. An unknown name is an InvalidInput (about `group_by`)."""
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        raise InvalidInput(
            f"unknown column '{unknown[0][:50]}'; use {', '.join(GROUP_NAMES)}"
        )
    return list(dict.fromkeys(names)) or list(GROUP_NAMES)


def usage_export_period_check(*, start: date, end: date) -> None:
    """A period runs from start to end (both included), at most MAX_DAYS days; an
    InvalidInput (about `end`) otherwise."""
    if end < start:
        raise InvalidInput("must not be before start")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a period is at most {MAX_DAYS} days")


def _row(
    stored: dict[str, Any], group_by: list[str], include_costs: bool
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in group_by:
        column, source = GROUPS[name]
        value = stored[source]
        if name == "day":
            value = value.isoformat()
        elif name == "key":
            value = str(value) if value is not None else ""
        row[column] = value
    for column in COUNT_COLUMNS:
        row[column] = stored[column] or 0
    if include_costs:
        for column in COST_COLUMNS:
            row[column] = format((stored[column] or Decimal(0)).quantize(USD), "f")
    return row


def usage_export(
    *,
    start: date,
    end: date,
    group_by: list[str],
    include_costs: bool,
    team: Team | None = None,
) -> UsageExport:
    """The rollups of days [start, end] (every team's, or `team`'s), summed per
    `group_by` and ordered by it; with `include_costs`, the provider and client
    costs too (the operator's)."""
    usage_export_period_check(start=start, end=end)
    rollups = UsageDaily.objects.spend().filter(day__gte=start, day__lte=end)
    if team is not None:
        rollups = rollups.for_team(team)
    sources = [GROUPS[name][1] for name in group_by]
    money = DecimalField(max_digits=24, decimal_places=8)
    sums = {column: Sum(column) for column in COUNT_COLUMNS}
    if include_costs:
        sums |= {column: Sum(column, output_field=money) for column in COST_COLUMNS}
    order = [
        F(source).asc(nulls_first=True) if source == "key__key_id" else source
        for source in sources
    ]
    grouped = rollups.values(*sources).annotate(**sums).order_by(*order)
    rows = (
        _row(stored, group_by, include_costs)
        for stored in _read(grouped, _pieces(group_by, start=start, end=end, team=team))
    )
    columns = [GROUPS[name][0] for name in group_by] + list(COUNT_COLUMNS)
    if include_costs:
        columns += list(COST_COLUMNS)
    scope = team.team_id if team is not None else "all-teams"
    return UsageExport(
        columns=columns,
        rows=rows,
        filename_stem=f"usage-{scope}-{start.isoformat()}-{end.isoformat()}",
        group_by=group_by,
    )


def _pieces(
    group_by: list[str], *, start: date, end: date, team: Team | None
) -> Iterator[Q]:
    """Filters that cut an export into consecutive pieces of its order, each read
    by its own query: by day when it is ordered by day first, and the first day
    (or the whole period, ordered by team first) by teams, EXPORT_TEAMS at a time
    in the order of their ids, when ordered by team first or next. The first rows
    then cost one piece's groups, not the whole period's (a query sums and sorts
    all its groups before its first row). Other orders are read by one query."""
    leading = group_by[:2] if group_by[0] == "day" else group_by[:1]
    days: list[Q] = [Q()]
    if leading[0] == "day":
        days = [Q(day=start + timedelta(days=n)) for n in range((end - start).days + 1)]
    ranges: Iterator[Q] = iter([Q()])
    if "team" in leading and team is None:
        ranges = _team_ranges()
    # The first day in ranges of teams; the others whole: once the first rows are
    # out, fewer and larger queries cost less in all (a range's query pays for
    # joining the teams' and keys' tables as a whole day's does).
    for number, day in enumerate(days):
        yield from (day & some_teams for some_teams in ranges) if number == 0 else [day]


def _team_ranges() -> Iterator[Q]:
    """Ranges of team ids of EXPORT_TEAMS teams each, in the database's order (its
    collation, not Python's); each range's end found by one short index read when
    it is reached."""
    teams = Team.objects.order_by("team_id").values_list("team_id", flat=True)
    low: str | None = None
    while True:
        after = teams if low is None else teams.filter(team_id__gt=low)
        skip = EXPORT_TEAMS if low is None else EXPORT_TEAMS - 1
        high = next(iter(after[skip : skip + 1]), None)
        yield (Q(team__team_id__gte=low) if low else Q()) & (
            Q(team__team_id__lt=high) if high else Q()
        )
        if high is None:
            return
        low = high


def _read(grouped: QuerySet, pieces: Iterator[Q]) -> Iterator[dict[str, Any]]:
    for piece in pieces:
        with sql.custom_plans():  # planned for its own days and teams
            stored = list(grouped.filter(piece))
        yield from stored


CALL_COLUMNS = (
    "created_at",
    "call_id",
    "job_id",
    "team_id",
    "key_id",
    "user_id",
    "model_alias",
    "status",
    "streamed",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "latency_ms",
    "ttft_ms",
    "finish_reason",
)
# The operator's only: what an alias resolved to, and what it cost.
CALL_OPERATOR_COLUMNS = (
    "deployment",
    "model_used",
    "provider_cost_usd",
    "client_cost_usd",
)
CALL_SOURCES = {
    "created_at": "created_at",
    "call_id": "call_id",
    "job_id": "job__job_id",
    "team_id": "team__team_id",
    "key_id": "job__key__key_id",
    "user_id": "job__user_id",
}


def _call_row(stored: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    row = {}
    for column in columns:
        value = stored[CALL_SOURCES.get(column, column)]
        if column == "created_at":
            value = value.isoformat()
        elif column in ("call_id", "job_id", "key_id"):
            value = str(value) if value is not None else ""
        elif column in CALL_OPERATOR_COLUMNS[2:]:
            value = format(value.quantize(USD), "f")
        elif value is None:
            value = ""
        row[column] = value
    return row


def _oldest_first(calls: QuerySet[LLMCall], sources: list[str]) -> Iterator[dict]:
    """`calls` oldest first, EXPORT_BATCH at a time, each batch from where the last
    ended (created_at, then id): one short indexed query per batch. A single cursor
    over the period would make PostgreSQL read the whole period before the first
    row (Django's cursor outside a transaction is WITH HOLD, materialized first),
    or hold a transaction and a connection open for as long as the client takes to
    download."""
    after: dict[str, Any] | None = None
    while True:
        batch = calls
        if after is not None:
            batch = batch.filter(created_at__gte=after["created_at"]).exclude(
                created_at=after["created_at"], id__lte=after["id"]
            )
        with sql.custom_plans():  # one team may hold a third of the calls
            stored = list(
                batch.order_by("created_at", "id").values("id", *sources)[:EXPORT_BATCH]
            )
        yield from stored
        if len(stored) < EXPORT_BATCH:
            return
        after = stored[-1]


def calls_export(
    *, start: date, end: date, include_costs: bool, team: Team | None = None
) -> UsageExport:
    """The recorded calls of days [start, end] (UTC; every team's, or `team`'s),
    oldest first; with `include_costs`, the operator's columns too."""
    usage_export_period_check(start=start, end=end)
    since, until = (
        datetime.combine(day, time(), UTC) for day in (start, end + timedelta(days=1))
    )
    calls = LLMCall.objects.filter(created_at__gte=since, created_at__lt=until)
    if team is not None:
        calls = calls.filter(team=team)
    columns = list(CALL_COLUMNS)
    if include_costs:
        columns += list(CALL_OPERATOR_COLUMNS)
    sources = [CALL_SOURCES.get(column, column) for column in columns]
    rows = (_call_row(row, columns) for row in _oldest_first(calls, sources))
    scope = team.team_id if team is not None else "all-teams"
    return UsageExport(
        columns=columns,
        rows=rows,
        filename_stem=f"calls-{scope}-{start.isoformat()}-{end.isoformat()}",
    )
