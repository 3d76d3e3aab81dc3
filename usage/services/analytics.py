"""Spend analytics for the operator: a period's totals, a daily chart stacked by
alias, and the top teams, keys, aliases and end users, all read from the daily
rollups (one grouped query per table shown): their cost depends on the days and
groups, not on the number of calls.

Margin = client cost (what the teams' credits stand for: provider cost plus each
team's markup) - provider cost. Days are UTC days, as the rollups'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from saas_litellm.exceptions import InvalidInput
from teams.models import Team
from usage.models import UsageDaily

TOP = 10
CHART_SERIES = 5  # aliases shown in the stacked chart; the rest is "other"
MAX_DAYS = 366
PRESETS = {"7d": 7, "30d": 30, "90d": 90}
MEASURES = {
    "calls": Sum("calls"),
    "failed_calls": Sum("failed_calls"),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "credits": Sum("credits"),
    "provider_cost_usd": Sum("provider_cost_usd"),
    "client_cost_usd": Sum("client_cost_usd"),
}
# What each top table groups by: the rollup's columns, and the label shown.
GROUPS = {
    "team": ("team_id", "team__team_id"),
    "key": ("key_id", "key__name"),
    "alias": ("model_alias", "model_alias"),
    "user": ("user_id", "user_id"),
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [
            self.start + timedelta(days=n)
            for n in range((self.end - self.start).days + 1)
        ]


def period_of(
    *, preset: str = "", start: str = "", end: str = "", today: date | None = None
) -> Period:
    """A preset (7d, 30d, 90d, month: this month so far) or a date range
    (YYYY-MM-DD, both inclusive); 30 days by default."""
    today = today or timezone.now().date()
    if start or end:
        try:
            first = date.fromisoformat(start) if start else today - timedelta(days=29)
            last = date.fromisoformat(end) if end else today
        except ValueError:
            raise InvalidInput("start and end must be dates (YYYY-MM-DD)") from None
        if last < first:
            raise InvalidInput("end must not be before start")
        if (last - first).days >= MAX_DAYS:
            raise InvalidInput(f"a period is at most {MAX_DAYS} days")
        return Period(first, last)
    if preset == "month":
        return Period(today.replace(day=1), today)
    days = PRESETS.get(preset or "30d")
    if days is None:
        raise InvalidInput(f"preset must be one of {', '.join([*PRESETS, 'month'])}")
    return Period(today - timedelta(days=days - 1), today)


@dataclass
class Row:
    """One group's figures."""

    label: str
    value: Any  # what a request-log link filters on
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def margin_usd(self) -> Decimal:
        return _money(self.figures.get("client_cost_usd")) - _money(
            self.figures.get("provider_cost_usd")
        )

    @property
    def tokens(self) -> int:
        prompt = self.figures.get("prompt_tokens") or 0
        return prompt + (self.figures.get("completion_tokens") or 0)


@dataclass
class Analytics:
    period: Period
    team: Team | None
    totals: Row
    tops: dict[str, list[Row]]
    daily: list[dict[str, Any]]  # per day: {"day", "series": [(alias, credits)]}
    series: list[str]


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _rows(period: Period, team: Team | None) -> QuerySet[UsageDaily]:
    rows = UsageDaily.objects.spend().filter(day__gte=period.start, day__lte=period.end)
    return rows.filter(team=team) if team is not None else rows


def _top(rows: QuerySet[UsageDaily], group: str) -> list[Row]:
    column, label = GROUPS[group]
    found = (
        rows.values(column, label)
        .annotate(**MEASURES)
        .order_by(F("credits").desc(nulls_last=True), F("calls").desc())[:TOP]
    )
    return [
        Row(
            label=str(row[label] if row[label] not in (None, "") else "(none)"),
            value=row[column],
            figures={name: row[name] for name in MEASURES},
        )
        for row in found
    ]


def spend_analytics(*, period: Period, team: Team | None = None) -> Analytics:
    """Everything the analytics page shows, in six grouped queries."""
    rows = _rows(period, team)
    totals = Row(label="total", value=None, figures=rows.aggregate(**MEASURES))
    tops = {group: _top(rows, group) for group in GROUPS}
    series = [row.label for row in tops["alias"][:CHART_SERIES]]
    by_day: dict[date, dict[str, int]] = {}
    for row in (
        rows.values("day", "model_alias")
        .annotate(credits=Sum("credits"))
        .filter(~Q(credits=0))
        .order_by()
    ):
        name = row["model_alias"] if row["model_alias"] in series else "other"
        day = by_day.setdefault(row["day"], {})
        day[name] = day.get(name, 0) + row["credits"]
    names = [*series, "other"]
    daily = [
        {
            "day": day,
            "series": [(name, by_day.get(day, {}).get(name, 0)) for name in names],
        }
        for day in period.days
    ]
    return Analytics(
        period=period, team=team, totals=totals, tops=tops, daily=daily, series=names
    )
