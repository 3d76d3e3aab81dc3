"""Operator dashboard for jobs and LLM calls, and the team page's usage panels.

Jobs and calls are read-only history: calls show the real model and costs (the
operator's view); nothing here can edit a job or a call, so billing history stays as
the services wrote it.

The team page is teams' TeamAdmin extended here, because `jobs` is the last app in the
import chain (jobs → credits → teams): only here may one admin show a team's holds,
recent jobs and usage chart, and change its budget mode through credits' services. The
admin autodiscovers apps in INSTALLED_APPS order, so this registration replaces
teams' one after it was made.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from credits.models import CreditHold, HoldStatus
from credits.services import (
    MAX_CREDITS_PER_OPERATION,
    TEAM_SETTING_FIELDS,
    team_budget_mode_set,
    team_onboard,
    team_settings_update,
)
from jobs.dashboard import daily_charts, team_daily_usage, team_recent_jobs
from jobs.models import Job, LLMCall
from saas_litellm.exceptions import ServiceError
from teams.admin import (
    TEAM_CREATION_FIELDS,
    TeamAdmin,
    TeamCreationForm,
    admin_actor,
    copy_saved,
    remember_issued,
)
from teams.models import BudgetMode, Team
from teams.services import audit_log_write

BUDGET_MODE_TEMPLATE = "admin/teams/team/change_budget_mode.html"
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


class BudgetModeForm(forms.Form):
    budget_mode = forms.ChoiceField(choices=BudgetMode.choices)
    tokens_per_credit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2_147_483_647,
        help_text="Empty keeps each team's rate.",
    )
    credits_per_dollar = forms.DecimalField(
        required=False,
        min_value=Decimal("0.0001"),
        max_digits=12,
        decimal_places=4,
        help_text="Empty keeps each team's rate.",
    )
    markup_percent = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=7,
        decimal_places=2,
        help_text="Empty keeps each team's markup.",
    )


class TeamOnboardingForm(TeamCreationForm):
    initial_credits = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_CREDITS_PER_OPERATION,
        help_text="Credits allocated at creation (a ledger entry); empty for none.",
    )


admin.site.unregister(Team)


@admin.register(Team)
class OperatorTeamAdmin(TeamAdmin):
    list_display = [
        "team_id",
        "team_alias",
        "organization",
        "status",
        "budget_mode",
        "credits_available",
        "created_at",
    ]
    list_select_related = ["organization"]
    actions = [*TeamAdmin.actions, "change_budget_mode"]
    # The usage panels go right after the "Credits" section.
    fieldsets = [
        section
        for name, options in TeamAdmin.fieldsets
        for section in (
            [(name, options), USAGE_FIELDSET]
            if name == "Credits"
            else [(name, options)]
        )
    ]
    add_form = TeamOnboardingForm
    add_fields = [*TEAM_CREATION_FIELDS, "initial_credits"]
    readonly_fields = [
        *TeamAdmin.readonly_fields,
        "usage_chart",
        "recent_jobs",
        "open_holds",
    ]

    def save_model(
        self, request: HttpRequest, obj: Team, form: forms.ModelForm, change: bool
    ) -> None:
        """Settings go through credits' service (validated and audit-logged there);
        access groups through teams' (save_related); anything else is saved here."""
        if not change:
            # The API's path: team, first key and funded account in one transaction.
            onboarded = team_onboard(
                organization_id=form.cleaned_data["organization"].organization_id,
                team_id=form.cleaned_data["team_id"],
                team_alias=form.cleaned_data["team_alias"],
                access_groups=[
                    g.group_name for g in form.cleaned_data["access_groups"]
                ],
                credits_allocated=form.cleaned_data.get("initial_credits") or 0,
                actor=admin_actor(request),
            )
            copy_saved(obj, onboarded.team)
            remember_issued(request, onboarded.issued.key, onboarded.issued.plaintext)
            return
        changed_settings = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in TEAM_SETTING_FIELDS
        }
        if changed_settings:
            team_settings_update(
                team=obj, actor=admin_actor(request), **changed_settings
            )
        other_fields = sorted(
            set(form.changed_data) - set(changed_settings) - {"access_groups"}
        )
        if other_fields:
            obj.save(update_fields=[*other_fields, "updated_at"])
            audit_log_write(
                actor=admin_actor(request),
                action="team.update",
                obj=obj,
                object_id=obj.team_id,
                after={"changed_fields": other_fields},
            )

    class Media:
        css = {"all": [DASHBOARD_CSS]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                available=F("credit_account__credits_allocated")
                - F("credit_account__credits_used")
                - F("credit_account__credits_reserved")
            )
        )

    @admin.display(description="Available credits", ordering="available")
    def credits_available(self, team: Team) -> int | None:
        return team.available

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

    @admin.action(
        description="Change budget mode of selected teams", permissions=["change"]
    )
    def change_budget_mode(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        """An intermediate page: the form, then one service call per team."""
        if "apply" in request.POST:
            form = BudgetModeForm(request.POST)
            if form.is_valid():
                rates = {
                    name: value
                    for name, value in form.cleaned_data.items()
                    if value is not None
                }
                changed = []
                for team in queryset:
                    try:
                        team_budget_mode_set(
                            team=team, actor=admin_actor(request), **rates
                        )
                    except ServiceError as error:
                        self.message_user(
                            request, f"{team.team_id}: {error.detail}", messages.ERROR
                        )
                    else:
                        changed.append(team.team_id)
                if changed:
                    self.message_user(
                        request,
                        f"Budget mode set to {rates['budget_mode']} for "
                        f"{', '.join(changed)}.",
                        messages.SUCCESS,
                    )
                return None
        else:
            form = BudgetModeForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Change budget mode",
            "form": form,
            "teams": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "change_budget_mode",
        }
        return TemplateResponse(request, BUDGET_MODE_TEMPLATE, context)
