"""Operator dashboard for jobs and LLM calls, and the one team page.

Jobs and calls are read-only history: calls show the real model and costs (the
operator's view); nothing here can edit a job or a call, so billing history stays as
the services wrote it.

The team page is registered here, once, because `jobs` is the last app in the import
chain (jobs → credits → teams): it is built on teams' TeamAdminBase (status, keys)
and credits' TeamAdminWithCredits (balance, creation, settings, budget mode), and
adds the usage panels (recent jobs, open holds, a 30-day chart).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from credits.admin import (
    CreatedRangeFilter,
    HistoryListAdmin,
    TeamAdminWithCredits,
    TeamAutocompleteFilter,
    team_pks,
    uuid_or_none,
)
from credits.models import CreditHold, HoldStatus
from jobs.dashboard import daily_charts, team_daily_usage, team_recent_jobs
from jobs.models import CallPayload, Job, LLMCall
from teams.models import ModelAlias, Team

CHARTS_TEMPLATE = "admin/includes/daily_charts.html"
DASHBOARD_CSS = "jobs/admin-dashboard.css"
OPEN_HOLDS_SHOWN = 10
USAGE_FIELDSET = ("Usage", {"fields": ["usage_chart", "recent_jobs", "open_holds"]})


class LLMCallInline(admin.TabularInline):
    model = LLMCall
    fields = (
        "call_id",
        "model_alias",
        "model_used",
        "status",
        "total_tokens",
        "provider_cost_usd",
        "latency_ms",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AliasFilter(admin.SimpleListFilter):
    """The model aliases of the catalogue (a small table), not a DISTINCT over calls."""

    title = "alias"
    parameter_name = "model_alias"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str]]:
        aliases = ModelAlias.objects.order_by("model_alias")
        names = list(aliases.values_list("model_alias", flat=True))
        # An alias since removed from the catalogue still filters (from a link).
        if self.value() and self.value() not in names:
            names.append(self.value())
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(model_alias=self.value())
        return queryset


@admin.register(Job)
class JobAdmin(HistoryListAdmin):
    list_display = (
        "job_id",
        "team",
        "organization",
        "job_type",
        "status",
        "credits_charged",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", ("team", TeamAutocompleteFilter), CreatedRangeFilter)
    search_help_text = "A job id, or a team id (exact)."
    list_select_related = ("team__organization",)
    ordering = ("-created_at", "-id")
    inlines = [LLMCallInline]

    def search_lookups(self, term: str) -> Q:
        value = uuid_or_none(term)
        if value is not None:
            return Q(job_id=value)
        return Q(team_id__in=team_pks(term))

    @admin.display(description="Organization", ordering="team__organization")
    def organization(self, job: Job) -> str:
        return job.team.organization.organization_id


@admin.register(LLMCall)
class LLMCallAdmin(HistoryListAdmin):
    """The request log: one compact row per call, newest first. The model actually
    used and the costs are the operator's view."""

    list_display = (
        "time",
        "team",
        "key",
        "model_alias",
        "deployment",
        "model_used",
        "status",
        "streamed",
        "total_tokens",
        "job_credits",
        "client_cost_usd",
        "latency_ms",
        "ttft_ms",
        "call_link",
    )
    list_display_links = None

    class Media:
        css = {"all": [DASHBOARD_CSS]}  # compact rows

    list_filter = (
        ("team", TeamAutocompleteFilter),
        AliasFilter,
        "status",
        "streamed",
        CreatedRangeFilter,
    )
    search_help_text = "A call id or job id, or a team id (exact)."
    list_select_related = ("team", "job__key")
    ordering = ("-created_at", "-id")
    # The change page: every field, read-only (the error is stored sanitized).
    fields = (
        ("call_id", "job_link"),
        ("team", "created_at", "completed_at"),
        ("model_alias", "deployment", "model_used", "purpose"),
        ("status", "finish_reason", "streamed", "latency_ms", "ttft_ms"),
        "error",
        "attempts_table",
        ("prompt_tokens", "completion_tokens", "total_tokens"),
        ("cached_tokens", "cache_write_tokens", "reasoning_tokens", "usage_estimated"),
        ("provider_cost_usd", "client_cost_usd", "job_credits"),
        ("reserved_tokens", "reserved_cost_usd"),
        "call_metadata",
        "payload_request",
        "payload_response",
    )
    readonly_fields = [
        name for row in fields for name in (row if isinstance(row, tuple) else (row,))
    ]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Links from the spend analytics (usage/admin.py) also filter by the job's
        key and end user."""
        if lookup in ("job__key__id__exact", "job__user_id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    def search_lookups(self, term: str) -> Q:
        value = uuid_or_none(term)
        if value is not None:
            # The job's key first: an OR of two indexed columns of this table.
            jobs = Job.objects.filter(job_id=value).values_list("pk", flat=True)
            return Q(call_id=value) | Q(job_id__in=list(jobs))
        return Q(team_id__in=team_pks(term))

    @admin.display(description="Time", ordering="created_at")
    def time(self, call: LLMCall) -> str:
        """Compact: the admin's date format spans three lines in a narrow column."""
        return timezone.localtime(call.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Key")
    def key(self, call: LLMCall) -> str:
        """The name of the key that opened the call's job ("-": the operator's)."""
        return call.job.key.name if call.job.key_id else "-"

    @admin.display(description="Call")
    def call_link(self, call: LLMCall) -> str:
        url = reverse("admin:jobs_llmcall_change", args=[call.pk])
        return format_html(
            '<a href="{}" title="{}">{}…</a>', url, call.call_id, str(call.call_id)[:8]
        )

    @admin.display(description="Attempts")
    def attempts_table(self, call: LLMCall) -> str:
        """Every deployment tried, in order (the error as recorded: sanitized)."""
        if not call.attempts:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td></tr>",
            (
                (
                    a.get("deployment"),
                    a.get("model"),
                    a.get("outcome"),
                    a.get("latency_ms"),
                )
                for a in call.attempts
            ),
        )
        return format_html(
            "<table><tr><th>Deployment</th><th>Model</th><th>Outcome</th>"
            "<th>Latency</th></tr>{}</table>",
            rows,
        )

    def _payload(self, call: LLMCall) -> CallPayload | None:
        try:
            return call.payload
        except CallPayload.DoesNotExist:
            return None

    def _payload_shown(self, call: LLMCall, part: str) -> str:
        """A logged payload's part as indented JSON (escaped), or why there is none."""
        payload = self._payload(call)
        if payload is None:
            return (
                "not logged (the team's payload logging is off, or its days are over)"
            )
        return format_html(
            "<pre>{}</pre>", json.dumps(getattr(payload, part), indent=2)[:100_000]
        )

    @admin.display(description="Prompt (payload log)")
    def payload_request(self, call: LLMCall) -> str:
        return self._payload_shown(call, "request")

    @admin.display(description="Answer (payload log)")
    def payload_response(self, call: LLMCall) -> str:
        return self._payload_shown(call, "response")

    @admin.display(description="Job credits", ordering="job__credits_charged")
    def job_credits(self, call: LLMCall) -> int | str:
        charged = call.job.credits_charged
        return "-" if charged is None else charged

    @admin.display(description="Job")
    def job_link(self, call: LLMCall) -> str:
        url = reverse("admin:jobs_job_change", args=[call.job_id])
        return format_html(
            '<a href="{}">{} {}</a>', url, call.job.job_type, call.job.job_id
        )


# --- The team page ----------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(TeamAdminWithCredits):
    # The usage panels go right after the "Credits" section.
    fieldsets = [
        section
        for name, options in TeamAdminWithCredits.fieldsets
        for section in (
            [(name, options), USAGE_FIELDSET]
            if name == "Credits"
            else [(name, options)]
        )
    ]
    readonly_fields = [
        *TeamAdminWithCredits.readonly_fields,
        "usage_chart",
        "recent_jobs",
        "open_holds",
    ]

    class Media:
        css = {"all": [DASHBOARD_CSS]}

    @admin.display(description="Last 30 days")
    def usage_chart(self, team: Team) -> str:
        daily = team_daily_usage(team=team)
        context = {
            "charts": daily_charts(daily),
            "daily": daily,
            "chart_prefix": "team",
        }
        analytics = (
            reverse("admin:usage_usagedaily_changelist")
            + "?"
            + urlencode({"team": team.team_id})
        )
        return format_html(
            '{}<p><a href="{}">Spend analytics of this team</a> (by key, alias and '
            "end user, any period)</p>",
            render_to_string(CHARTS_TEMPLATE, context),
            analytics,
        )

    @admin.display(description="Recent jobs")
    def recent_jobs(self, team: Team) -> str:
        jobs = team_recent_jobs(team=team)
        all_url = reverse("admin:jobs_job_changelist") + f"?team__id__exact={team.pk}"
        if not jobs:
            return format_html('No jobs yet. <a href="{}">All jobs</a>', all_url)
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:jobs_job_change", args=[job.pk]),
                    job.job_id,
                    job.job_type,
                    job.get_status_display(),
                    "-" if job.credits_charged is None else job.credits_charged,
                    f"{job.created_at:%Y-%m-%d %H:%M}",
                )
                for job in jobs
            ),
        )
        return format_html(
            '<table class="team-jobs"><thead><tr><th>Job</th><th>Type</th>'
            "<th>Status</th><th>Credits</th><th>Created</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}">All jobs of this team</a></p>',
            rows,
            all_url,
        )

    @admin.display(description="Open holds")
    def open_holds(self, team: Team) -> str:
        holds = list(
            CreditHold.objects.filter(
                account__team=team, status=HoldStatus.OPEN
            ).order_by("-created_at")[:OPEN_HOLDS_SHOWN]
        )
        all_url = (
            reverse("admin:credits_credithold_changelist")
            + f"?account__team__id__exact={team.pk}&status__exact={HoldStatus.OPEN}"
        )
        if not holds:
            return "No open holds."
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            (
                (hold.job_id, hold.amount, f"{hold.expires_at:%Y-%m-%d %H:%M}")
                for hold in holds
            ),
        )
        return format_html(
            '<table class="team-holds"><thead><tr><th>Job</th><th>Credits held</th>'
            "<th>Expires</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">All open holds of this team</a></p>',
            rows,
            all_url,
        )
