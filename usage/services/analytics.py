"""Spend analytics for the operator: a period's totals, a daily chart stacked by
alias, and the top teams, keys, aliases and end users, all read from the daily
rollups: their cost depends on the days and groups, not on the number of calls.
Over every team, the totals, the chart and the aliases read the rollups' totals
across teams (usage.models.UsageDailyTotal); the top teams and keys are ranked from
one read of the teams' rows grouped by team and key, and the end users from one
grouped by end user; only the ten shown are named.

Margin = client cost (what the teams' credits stand for: provider cost plus each
team's markup) - provider cost. Days are UTC days, as the rollups'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Model, Q, QuerySet, Sum
from django.utils import timezone

from saas_litellm.exceptions import InvalidInput
from teams.models import Team, VirtualKey
from usage.models import UsageDaily, UsageDailyTotal

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
# What each top table groups by (a rollup column), and where the label shown comes
# from (a model and its field; the column itself when None).
GROUPS: dict[str, tuple[str, type[Model] | None, str]] = {
    "team": ("team_id", Team, "team_id"),
    "key": ("key_id", VirtualKey, "name"),
    "alias": ("model_alias", None, ""),
    "user": ("user_id", None, ""),
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


def _top_summed(rows: QuerySet[Any], group: str) -> list[Row]:
    """The TOP aliases or end users by credits (then calls): a name may span every
    team, so each is ranked with all its figures summed at once."""
    column = GROUPS[group][0]
    return [
        Row(
            label=str(row[column] or "(none)"),
            value=row[column],
            figures={name: row[name] for name in MEASURES},
        )
        for row in rows.values(column)
        .annotate(**MEASURES)
        .order_by(F("credits").desc(nulls_last=True), F("calls").desc())[:TOP]
    ]


def _teams_and_keys_ranked(rows: QuerySet[Any]) -> dict[str, list[Any]]:
    """The TOP teams and the TOP keys by credits (then calls), from one read of the
    period's rows grouped by team and key: a key is one team's, so a team's sums
    are its keys' (and its keyless jobs'). The keyless jobs of every team are one
    key, None. Only these two sums are taken: a sum costs per row read, and the
    ranking reads every team's rows of the period."""
    sums: dict[str, dict[Any, list[int]]] = {"team": {}, "key": {}}
    for team_id, key_id, credits, calls in (
        rows.values("team_id", "key_id")
        .annotate(credits_sum=Sum("credits"), calls_sum=Sum("calls"))
        .values_list("team_id", "key_id", "credits_sum", "calls_sum")
        .order_by()
    ):
        for group, value in (("team", team_id), ("key", key_id)):
            counted = sums[group].setdefault(value, [0, 0])
            counted[0] += credits or 0
            counted[1] += calls or 0
    return {
        group: sorted(counted, key=lambda v: (-counted[v][0], -counted[v][1]))[:TOP]
        for group, counted in sums.items()
    }


def _top_ranked(rows: QuerySet[Any], group: str, ranked: list[Any]) -> list[Row]:
    """The teams or keys `ranked`, with their figures summed and their names."""
    column, model, label = GROUPS[group]
    shown = [value for value in ranked if value is not None]
    # A NULL key (the operator's jobs) is not IN anything: asked for on its own.
    chosen = Q(**{f"{column}__in": shown})
    if len(shown) < len(ranked):
        chosen |= Q(**{f"{column}__isnull": True})
    figures = {
        row.pop(column): row
        for row in rows.filter(chosen).values(column).annotate(**MEASURES).order_by()
    }
    labels = dict(model.objects.filter(pk__in=shown).values_list("pk", label))
    return [
        Row(
            label=str(labels.get(value) or "(none)"),
            value=value,
            figures=figures[value],
        )
        for value in ranked
    ]


def spend_analytics(*, period: Period, team: Team | None = None) -> Analytics:
    """Everything the analytics page shows: the totals, the chart, the aliases
    and the end users in a query each; the teams and the keys ranked by one, then
    two each (the figures and names of the ten shown)."""
    rows = _rows(period, team)
    overall = rows
    if team is None:
        overall = UsageDailyTotal.objects.spend().filter(
            day__gte=period.start, day__lte=period.end
        )
    totals = Row(label="total", value=None, figures=overall.aggregate(**MEASURES))
    ranked = _teams_and_keys_ranked(rows)
    tops = {
        "team": _top_ranked(rows, "team", ranked["team"]),
        "key": _top_ranked(rows, "key", ranked["key"]),
        "alias": _top_summed(overall, "alias"),
        "user": _top_summed(rows, "user"),
    }
    series = [row.label for row in tops["alias"][:CHART_SERIES]]
    by_day: dict[date, dict[str, int]] = {}
    for row in (
        overall.values("day", "model_alias")
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
