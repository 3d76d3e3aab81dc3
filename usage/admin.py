"""The spend analytics page: the admin's page for the daily rollups ("Daily usage").

A period (presets or a date range) and optionally one team: totals with the margin,
a daily chart of credits stacked by alias (server-rendered SVG, no JavaScript, no
CDN) and the top teams, keys, aliases and end users, each row linking to the request
log filtered the same way. The figures come from usage.services.analytics; this
module only lays them out. The page's period downloads as CSV, its rollups or its
request log, through the operator API's exports (usage.services.exports).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from saas_litellm.exceptions import InvalidInput
from teams.models import Team
from usage.api import export_response
from usage.models import UsageDaily
from usage.services import GROUP_NAMES, calls_export, usage_export
from usage.services.analytics import Analytics, Period, period_of, spend_analytics

CHART_WIDTH, CHART_HEIGHT = 600, 160
TOP_TITLES = {
    "team": ("Top teams", "Team"),
    "key": ("Top keys", "Key"),
    "alias": ("Top aliases", "Alias"),
    "user": ("Top end users", "End user"),
}
PRESET_LABELS = [
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("90d", "90 days"),
    ("month", "This month"),
]
# The request log's filter for each top table's rows (jobs/admin.py LLMCallAdmin).
LOG_FILTERS = {
    "team": "team__id__exact",
    "key": "job__key__id__exact",
    "alias": "model_alias",
    "user": "job__user_id__exact",
}


def _stacked_chart(analytics: Analytics) -> dict[str, Any]:
    """Bars per day, each a stack of rects (one per series) scaled to the peak."""
    totals = [sum(v for _, v in day["series"]) for day in analytics.daily]
    peak = max(totals, default=0)
    step = CHART_WIDTH / max(len(analytics.daily), 1)
    bars = []
    for index, (day, total) in enumerate(zip(analytics.daily, totals, strict=True)):
        top = float(CHART_HEIGHT)
        rects = []
        for number, (name, value) in enumerate(day["series"]):
            if not value or not peak:
                continue
            height = value / peak * CHART_HEIGHT
            top -= height
            rects.append(
                {"series": number, "name": name, "y": round(top, 1),
                 "height": round(height, 1), "value": value}
            )  # fmt: skip
        bars.append(
            {"x": round(index * step + step * 0.1, 1), "width": round(step * 0.8, 1),
             "day": day["day"], "total": total, "rects": rects}
        )  # fmt: skip
    return {"bars": bars, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _log_link(analytics: Analytics, group: str | None, value: Any) -> str:
    """The request log, filtered to the period, the page's team and this row."""
    query = {
        "created_from": analytics.period.start.isoformat(),
        "created_to": analytics.period.end.isoformat(),
    }
    if analytics.team is not None:
        query["team__id__exact"] = str(analytics.team.pk)
    if group is not None and value not in (None, ""):
        query[LOG_FILTERS[group]] = str(value)
    return f"{reverse('admin:jobs_llmcall_changelist')}?{urlencode(query)}"


@admin.register(UsageDaily)
class SpendAnalyticsAdmin(admin.ModelAdmin):
    """Read-only: the rollups are written by the services, rebuilt by
    `rollups_rebuild`; their list is the analytics page."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("download/", download, name="usage_usagedaily_download"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest) -> tuple[Team | None, Period]:
        """The page's team and period, from its query (an unknown team or a bad
        period is said in a message, and the defaults are shown)."""
        query = request.GET
        team = None
        if query.get("team"):
            team = Team.objects.filter(team_id=query["team"][:100]).first()
            if team is None:
                messages.error(request, f"No team {query['team'][:100]!r}: all teams.")
        try:
            period = period_of(
                preset=query.get("preset", ""),
                start=query.get("start", ""),
                end=query.get("end", ""),
            )
        except InvalidInput as error:
            messages.error(request, f"Period: {error.detail}. The last 30 days shown.")
            period = period_of()
        return team, period

    def download_view(self, request: HttpRequest) -> HttpResponse:
        """The page's period and team as a CSV: its usage rollups per day, team,
        key, alias and end user (`what=usage`), or its request log (`what=calls`),
        with the operator's columns."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        team, period = self._page(request)
        if request.GET.get("what") == "calls":
            export = calls_export(
                start=period.start, end=period.end, include_costs=True, team=team
            )
        else:
            export = usage_export(
                start=period.start,
                end=period.end,
                group_by=list(GROUP_NAMES),
                include_costs=True,
                team=team,
            )
        return export_response(request, export, "csv")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET
        team, period = self._page(request)
        downloads = urlencode(
            {
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                **({"team": team.team_id} if team is not None else {}),
            }
        )
        analytics = spend_analytics(period=period, team=team)
        tops = [
            (
                group,
                TOP_TITLES[group],
                [(row, _log_link(analytics, group, row.value)) for row in rows],
            )
            for group, rows in analytics.tops.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Spend analytics"
            + (f" of team {team.team_id}" if team is not None else ""),
            "opts": self.model._meta,
            "analytics": analytics,
            "chart": _stacked_chart(analytics),
            "tops": tops,
            "log_link": _log_link(analytics, None, None),
            "download": f"{reverse('admin:usage_usagedaily_download')}?{downloads}",
            "presets": PRESET_LABELS,
            "chosen": {
                "preset": query.get("preset", ""),
                "start": query.get("start", ""),
                "end": query.get("end", ""),
                "team": team.team_id if team is not None else "",
            },
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/usage/analytics.html", context)
