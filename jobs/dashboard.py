"""Read-only numbers for the operator dashboard (the admin home and the team page).

A fixed handful of aggregate queries, whatever the number of teams, jobs or calls:
the home page must stay fast as the business grows (tested with a query counter).
Calls, costs and credits are read from the daily usage rollups (usage.models: a
call counts there once its outcome is recorded, a charge on the day of its ledger
entry; the home reads their totals across teams, a team's page its own rows), so
their cost depends on the days and groups shown, not on the number of calls or
teams; jobs are counted from the jobs' (created_at) index.

Definitions the dashboard shows:
- "today" is the current UTC day; "30 days" is today and the 29 days before it.
- credits consumed = credits deducted from balances (ledger deductions, refunds aside).
- billed (USD) = calls' client cost: provider cost plus each team's markup, the price
  the credits stand for; margin = billed - provider cost.
- failed-call rate = failed calls / all calls over 30 days.
- a team is low on credits by credits.models' rule (available credits under 10 % of
  what it was ever allocated, or under 10 credits); suspended teams are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import TruncDate
from django.utils import timezone

from credits.models import LOW_CREDITS_FLOOR, LOW_CREDITS_PERCENT, CreditAccount
from jobs.models import OPEN_JOB_STATUSES, Job
from saas_litellm import sql
from teams.models import Organization, Team, TeamStatus
from usage.models import UsageDaily, UsageDailyTotal

CHART_DAYS = 30
LOW_CREDITS_SHOWN = 10
RECENT_JOBS_SHOWN = 10
CENTS = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True)
class DailyPoint:
    day: date
    jobs: int
    credits: int
    cost_usd: Decimal
    calls: int = 0
    failed_calls: int = 0
    billed_usd: Decimal = ZERO


def _window(now: datetime | None) -> tuple[datetime, datetime, list[date]]:
    """Start of today, start of the 30-day window, and its days, in UTC."""
    now = timezone.localtime(now or timezone.now(), timezone.get_fixed_timezone(0))
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window_start = today_start - timedelta(days=CHART_DAYS - 1)
    days = [(window_start + timedelta(days=n)).date() for n in range(CHART_DAYS)]
    return today_start, window_start, days


def _percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def _daily(
    *, window_start: datetime, days: list[date], jobs: Any, usage: Any
) -> list[DailyPoint]:
    """Jobs (created that day), calls, credits and costs per day: one grouped query
    over the rollups (closed jobs and the rest), one for the open jobs."""
    open_counts = {
        row["day"]: row["count"]
        for row in jobs.filter(
            created_at__gte=window_start, status__in=OPEN_JOB_STATUSES
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(count=Count("pk"))
        .order_by()
    }
    sums = {
        row["day"]: row
        for row in usage.filter(day__gte=days[0])
        .values("day")
        .annotate(
            jobs=Sum(F("jobs_completed") + F("jobs_failed")),
            calls=Sum("calls"),
            failed_calls=Sum("failed_calls"),
            credits=Sum("credits"),
            cost=Sum("provider_cost_usd"),
            billed=Sum("client_cost_usd"),
        )
        .order_by()
    }
    return [
        DailyPoint(
            day=day,
            jobs=open_counts.get(day, 0) + (sums.get(day, {}).get("jobs") or 0),
            credits=sums.get(day, {}).get("credits") or 0,
            cost_usd=Decimal(sums.get(day, {}).get("cost") or 0),
            calls=sums.get(day, {}).get("calls") or 0,
            failed_calls=sums.get(day, {}).get("failed_calls") or 0,
            billed_usd=Decimal(sums.get(day, {}).get("billed") or 0),
        )
        for day in days
    ]


def low_credit_accounts(
    limit: int = LOW_CREDITS_SHOWN,
) -> tuple[int, list[CreditAccount]]:
    """How many accounts are under the low-credit line, and the `limit` lowest of
    them (by available credits), in one query."""
    with sql.custom_plans():  # for the margin's statistics: few accounts are low
        accounts = list(
            CreditAccount.objects.select_related("team__organization")
            .annotate(
                available=F("credits_allocated")
                - F("credits_used")
                - F("credits_reserved"),
                low_count=Window(Count("pk")),
            )
            .filter(low_credits_margin__lt=0)
            .exclude(team__status=TeamStatus.SUSPENDED)
            .order_by("available", "team__team_id")[:limit]
        )
    return (accounts[0].low_count if accounts else 0), accounts


def dashboard_stats(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the admin home shows, in five queries: its 30-day figures are
    the sums of its chart's days."""
    _, window_start, days = _window(now)
    teams = Team.objects.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status=TeamStatus.ACTIVE)),
        suspended=Count("pk", filter=Q(status=TeamStatus.SUSPENDED)),
        paused=Count("pk", filter=Q(status=TeamStatus.PAUSED)),
    )
    daily = _daily(
        window_start=window_start,
        days=days,
        jobs=Job.objects.all(),
        usage=UsageDailyTotal.objects.all(),
    )
    today = daily[-1]  # the window's last day

    def total(name: str) -> Any:
        return sum((getattr(point, name) for point in daily), start=0)

    calls, failed = total("calls"), total("failed_calls")
    provider_cost, billed = Decimal(total("cost_usd")), Decimal(total("billed_usd"))
    low_count, low_accounts = low_credit_accounts()
    return {
        "organizations": Organization.objects.count(),
        "teams": teams,
        "jobs_today": today.jobs,
        "jobs_30d": total("jobs"),
        "calls_today": today.calls,
        "calls_30d": calls,
        "failed_calls_30d": failed,
        "failed_call_rate": _percent(failed, calls),
        "credits_today": today.credits,
        "credits_30d": total("credits"),
        "provider_cost_30d": provider_cost.quantize(CENTS),
        "billed_30d": billed.quantize(CENTS),
        "margin_30d": (billed - provider_cost).quantize(CENTS),
        "margin_percent": _percent(billed - provider_cost, billed),
        "low_credit_count": low_count,
        "low_credit_accounts": low_accounts,
        "low_credit_percent": LOW_CREDITS_PERCENT,
        "low_credit_floor": LOW_CREDITS_FLOOR,
        "daily": daily,
    }


def team_daily_usage(*, team: Team, now: datetime | None = None) -> list[DailyPoint]:
    """One team's jobs, credits and provider cost per day over the last 30 days."""
    _, window_start, days = _window(now)
    return _daily(
        window_start=window_start,
        days=days,
        jobs=Job.objects.for_team(team),
        usage=UsageDaily.objects.filter(team=team),
    )


def team_recent_jobs(*, team: Team) -> list[Job]:
    return list(Job.objects.for_team(team).order_by("-created_at")[:RECENT_JOBS_SHOWN])


# --- Charts ---------------------------------------------------------------------------
# Server-rendered SVG (no JavaScript, no CDN): this computes the geometry, the template
# `admin/includes/daily_charts.html` draws it, escaping every label.

CHART_WIDTH = 300
CHART_HEIGHT = 80
CHART_PAD = 4


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    unit: str
    total: Any
    peak: Any
    points: str  # SVG polyline points
    area: str  # SVG polygon points (the filled area under the line)
    bars: list[dict[str, Any]]  # one per day, for <title> tooltips
    first_day: date
    last_day: date


def _chart(
    key: str, title: str, unit: str, values: list[Any], days: list[date]
) -> Chart:
    peak = max(values) if values else 0
    inner_height = CHART_HEIGHT - 2 * CHART_PAD
    step = (CHART_WIDTH - 2 * CHART_PAD) / max(len(values) - 1, 1)
    coords = []
    for index, value in enumerate(values):
        x = CHART_PAD + index * step
        y = (
            CHART_HEIGHT
            - CHART_PAD
            - (float(value) / float(peak) * inner_height if peak else 0)
        )
        coords.append((round(x, 1), round(y, 1)))
    points = " ".join(f"{x},{y}" for x, y in coords)
    base = CHART_HEIGHT - CHART_PAD
    area = f"{coords[0][0]},{base} {points} {coords[-1][0]},{base}" if coords else ""
    bars = [
        {
            "x": round(x - step / 2, 1),
            "width": round(step, 1),
            "day": day,
            "value": value,
        }
        for (x, _), day, value in zip(coords, days, values, strict=True)
    ]
    return Chart(
        key=key,
        title=title,
        unit=unit,
        total=sum(values),
        peak=peak,
        points=points,
        area=area,
        bars=bars,
        first_day=days[0],
        last_day=days[-1],
    )


def daily_charts(daily: list[DailyPoint]) -> list[Chart]:
    """Three small line charts (jobs, credits, provider cost) of the same 30 days."""
    days = [point.day for point in daily]
    return [
        _chart("jobs", "Jobs per day", "jobs", [p.jobs for p in daily], days),
        _chart(
            "credits",
            "Credits consumed per day",
            "credits",
            [p.credits for p in daily],
            days,
        ),
        _chart(
            "cost",
            "Provider cost per day",
            "USD",
            [p.cost_usd.quantize(CENTS) for p in daily],
            days,
        ),
    ]
