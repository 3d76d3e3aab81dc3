"""Spend analytics for the operator: a period's totals, a daily chart stacked by
alias, and the top teams, keys, aliases and end users, all read from the daily
rollups: their cost depends on the days and groups, not on the number of calls.
Over every team, the totals, the chart and the aliases read the rollups' totals
across teams (usage.models.UsageDailyTotal); the top teams and keys are ranked from
the teams' rows summed per team and key (the past days' sums kept in the shared
cache, today's read), the end users from the rows that name one; only the ten
shown are named.

Margin = client cost (what the teams' credits stand for: provider cost plus each
team's markup) - provider cost. Days are UTC days, as the rollups'.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import BigIntegerField, F, Q, QuerySet, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from saas_litellm import sql
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
# The rollup column the top aliases and end users are grouped by.
COLUMNS = {"alias": "model_alias", "user": "user_id"}


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


def _top_summed(rows: QuerySet[Any], group: str, limit: int | None = TOP) -> list[Row]:
    """The TOP aliases or end users by credits (then calls), or all of them with
    no `limit`: a name may span every team, so each is ranked with all its figures
    summed at once."""
    column = COLUMNS[group]
    ranked = (
        rows.values(column)
        .annotate(**MEASURES)
        .order_by(F("credits").desc(nulls_last=True), F("calls").desc())
    )
    return [
        Row(
            label=str(row[column] or "(none)"),
            value=row[column],
            figures={name: row[name] for name in MEASURES},
        )
        for row in (ranked[:limit] if limit else ranked)
    ]


def _top_users(rows: QuerySet[Any], totals: Row) -> list[Row]:
    """The TOP end users by credits (then calls). The named ones are summed from
    their own rows (an index holds the rows that name an end user: few, where most
    jobs name none); the jobs of no end user, "(none)", are what the totals hold
    beyond them (sums of counters: exact)."""
    named = _top_summed(rows.exclude(user_id=""), "user", limit=None)
    nameless = {
        name: (totals.figures[name] or 0)
        - sum((row.figures[name] or 0) for row in named)
        for name in MEASURES
    }
    if nameless["calls"] or nameless["credits"]:
        named.append(Row(label="(none)", value="", figures=nameless))
    named.sort(key=lambda row: (-(row.figures["credits"] or 0), -row.figures["calls"]))
    return named[:TOP]


Sums = dict[str, dict[Any, tuple[int, int]]]  # {"team"/"key": {id: (credits, calls)}}
CLOSED_DAYS_KEY = "spend-analytics:closed-days"
CLOSED_DAYS_SECONDS = 2 * 24 * 3600


def _sums(rows: QuerySet[Any], into: Sums | None = None) -> Sums:
    """(credits, calls) per team and per key of the rows (added to `into`'s): read
    grouped by team and key, as a key is one team's, so a team's sums are its keys'
    (and its keyless jobs'). The keyless jobs of every team are one key, None."""
    sums = {"team": {}, "key": {}} if into is None else into
    teams, keys = sums["team"], sums["key"]
    grouped = (
        rows.values("team_id", "key_id")
        # As integers: PostgreSQL sums bigints as numerics, a Decimal each to read.
        .annotate(
            credits_sum=Cast(Sum("credits"), BigIntegerField()),
            calls_sum=Cast(Sum("calls"), BigIntegerField()),
        )
        .values_list("team_id", "key_id", "credits_sum", "calls_sum")
        .order_by()
    )
    # The query's own SQL, its rows read as the database gives them (integers and
    # NULLs): the ORM's pass over each row (an int() of an int per sum) took 4 ms of
    # 11 for today's 7 600 groups at 10 000 teams.
    statement, params = grouped.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        fetched = cursor.fetchall()
    for team_id, key_id, credits, calls in fetched:
        credits, calls = credits or 0, calls or 0
        before = teams.get(team_id)
        teams[team_id] = (
            (before[0] + credits, before[1] + calls) if before else (credits, calls)
        )
        before = keys.get(key_id)
        keys[key_id] = (
            (before[0] + credits, before[1] + calls) if before else (credits, calls)
        )
    return sums


def _closed_days_sums(start: date, end: date) -> Sums:
    """Every team's and key's sums over days [start, end], all before today: read
    once and kept in the shared cache while those days' calls and credits across
    teams (a few total rows) stay what they were.

    Why kept: ranking every team reads every team's row of every day of the period
    (at 10 000 teams, 300 000 rows for 30 days), while past days barely change:
    their counters only grow (a call running over midnight adds to the day it
    started on), so a sum that has not moved is a state that has not either. A
    repair of the rollups (`rollups_rebuild`) can move counters between teams
    without moving the sums; it calls closed_days_forget()."""
    generation = cache.get(CLOSED_DAYS_KEY, 0)
    fingerprint = tuple(
        UsageDailyTotal.objects.filter(day__gte=start, day__lte=end)
        .aggregate(calls=Sum("calls"), credits=Sum("credits"))
        .values()
    )
    key = f"{CLOSED_DAYS_KEY}:{generation}:{start}:{end}"
    kept = cache.get(key)
    if kept is not None and kept[0] == fingerprint:
        return kept[1]
    sums = _sums(_rows(Period(start, end), None))
    cache.set(key, (fingerprint, sums), CLOSED_DAYS_SECONDS)
    return sums


def closed_days_forget() -> None:
    """Drop every kept sum of past days (after their rollups were repaired)."""
    try:
        cache.incr(CLOSED_DAYS_KEY)
    except ValueError:  # never kept: nothing to forget
        cache.set(CLOSED_DAYS_KEY, 1, None)


def _teams_and_keys_ranked(period: Period, team: Team | None) -> dict[str, list[Any]]:
    """The TOP teams and the TOP keys by credits (then calls). Over every team,
    the ranking reads every team's rows: the past days' sums are kept
    (_closed_days_sums), today's read and added to a copy of them."""
    today = timezone.now().date()
    closed_end = min(period.end, today - timedelta(days=1))
    if team is not None or period.start > closed_end:
        sums = _sums(_rows(period, team))
    else:
        closed = _closed_days_sums(period.start, closed_end)
        sums = {group: dict(counted) for group, counted in closed.items()}
        if period.end >= today:
            _sums(_rows(Period(today, period.end), None), into=sums)
    return {
        group: [
            value
            for value, _ in heapq.nlargest(TOP, counted.items(), key=itemgetter(1))
        ]
        for group, counted in sums.items()
    }


def _top_teams_and_keys(
    rows: QuerySet[Any], ranked: dict[str, list[Any]]
) -> dict[str, list[Row]]:
    """The teams and keys `ranked`, with their figures and names, from one read of
    the rows: a key is one team's, so the rows of the ranked teams and of the
    ranked keys' teams, summed per (team, key), hold both (a read for each read
    the big team's rows twice). The keyless jobs of every team, key None, are
    asked for on their own (a NULL is not IN anything)."""
    keys = list(
        VirtualKey.objects.filter(
            pk__in=[value for value in ranked["key"] if value is not None]
        ).values_list("pk", "name", "team_id")
    )
    key_names = {pk: name for pk, name, _ in keys}
    teams = {*ranked["team"], *(team_id for _, _, team_id in keys)}
    chosen = Q(team_id__in=teams)
    if None in ranked["key"]:
        chosen |= Q(key__isnull=True)
    ranked_teams, ranked_keys = set(ranked["team"]), set(ranked["key"])
    figures: dict[str, dict[Any, dict[str, Any]]] = {"team": {}, "key": {}}
    for row in (
        rows.filter(chosen).values("team_id", "key_id").annotate(**MEASURES).order_by()
    ):
        for group, value, shown in (
            ("team", row["team_id"], ranked_teams),
            ("key", row["key_id"], ranked_keys),
        ):
            if value in shown:
                summed = figures[group].setdefault(value, dict.fromkeys(MEASURES, 0))
                for name in MEASURES:
                    summed[name] += row[name] or 0
    labels = {
        "team": dict(
            Team.objects.filter(pk__in=ranked["team"]).values_list("pk", "team_id")
        ),
        "key": key_names,
    }
    return {
        group: [
            Row(
                label=str(labels[group].get(value) or "(none)"),
                value=value,
                figures=figures[group].get(value, dict.fromkeys(MEASURES, 0)),
            )
            for value in ranked[group]
        ]
        for group in ("team", "key")
    }


def spend_analytics(*, period: Period, team: Team | None = None) -> Analytics:
    """Everything the analytics page shows: the totals, the chart, the aliases
    and the end users in a query each; the teams and the keys ranked by one or two
    (past days and today), then their figures read at once and their names."""
    # Plans made for the values given: a generic plan (the one a prepared statement
    # settles on) cannot use the index of the rows that name an end user, and
    # reads every row of the big team.
    with sql.custom_plans():
        rows = _rows(period, team)
        overall = rows
        if team is None:
            overall = UsageDailyTotal.objects.spend().filter(
                day__gte=period.start, day__lte=period.end
            )
        totals = Row(label="total", value=None, figures=overall.aggregate(**MEASURES))
        tops = {
            **_top_teams_and_keys(rows, _teams_and_keys_ranked(period, team)),
            "alias": _top_summed(overall, "alias"),
            "user": _top_users(rows, totals),
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
