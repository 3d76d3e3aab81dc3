"""Usage exports: the rollups of a period, summed by the columns asked for, in order.

Read from the rollups only, so an export costs what its days and groups cost, not
what the number of calls does; rows are read through a cursor as they are written
out. A team's export is its own rows and has no cost columns (teams never see
costs); the operator's has both costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, F, Sum

from saas_litellm.exceptions import InvalidInput
from teams.models import Team
from usage.models import COST_FIELDS, COUNTER_FIELDS, UsageDaily

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
COUNT_COLUMNS = tuple(name for name in COUNTER_FIELDS if name not in COST_FIELDS)
MAX_DAYS = 366
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
    rollups = UsageDaily.objects.filter(day__gte=start, day__lte=end)
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
        for stored in grouped.iterator(chunk_size=2000)
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
