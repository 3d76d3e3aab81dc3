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

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from credits.admin import TeamAdminWithCredits
from credits.models import CreditHold, HoldStatus
from jobs.dashboard import daily_charts, team_daily_usage, team_recent_jobs
from jobs.models import Job, LLMCall
from teams.models import Team

CHARTS_TEMPLATE = "admin/includes/daily_charts.html"
DASHBOARD_CSS = "jobs/admin-dashboard.css"
OPEN_HOLDS_SHOWN = 10
USAGE_FIELDSET = ("Usage", {"fields": ["usage_chart", "recent_jobs", "open_holds"]})


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
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
    list_filter = ("status", "team__organization")
    search_fields = ("job_id", "team__team_id", "job_type", "user_id")
    list_select_related = ("team__organization",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [LLMCallInline]

    @admin.display(description="Organization", ordering="team__organization")
    def organization(self, job: Job) -> str:
        return job.team.organization.organization_id


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = (
        "call_id",
        "team",
        "job_link",
        "model_alias",
        "model_used",
        "status",
        "streamed",
        "total_tokens",
        "provider_cost_usd",
        "client_cost_usd",
        "latency_ms",
        "created_at",
    )
    list_filter = ("status", "streamed", "team__organization")
    search_fields = ("call_id", "job__job_id", "team__team_id", "model_alias")
    list_select_related = ("team", "job")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    @admin.display(description="Job", ordering="job__created_at")
    def job_link(self, call: LLMCall) -> str:
        url = reverse("admin:jobs_job_change", args=[call.job_id])
        return format_html('<a href="{}">{}</a>', url, call.job.job_type)


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
        return render_to_string(CHARTS_TEMPLATE, context)

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
