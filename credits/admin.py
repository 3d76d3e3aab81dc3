"""Operator dashboard for credits: balances, the ledger and holds, all read-only, and
the credits part of the team page.

Adding credits is a form on its own page that calls the same service as the API
(`credit_add`, which also writes the audit log). The form carries a hidden one-time
token used as the ledger entry's idempotency key, so a double submit (or a browser
resend) adds the credits once.

TeamAdminWithCredits adds the balance, creation with initial credits, the settings
and the budget-mode action to teams' TeamAdminBase, through the services the API
calls. It is not registered here: jobs/admin.py registers the one team page on it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from credits.models import CreditAccount, CreditHold, EntryType, LedgerEntry
from credits.services import (
    MAX_CREDITS_PER_OPERATION,
    TEAM_SETTING_FIELDS,
    credit_add,
    team_budget_mode_set,
    team_onboard,
    team_settings_update,
)
from saas_litellm.exceptions import ServiceError
from teams.admin import (
    TEAM_CREATION_FIELDS,
    TeamAdminBase,
    TeamCreationForm,
    admin_actor,
    changed_values,
    copy_saved,
    remember_issued,
)
from teams.models import BudgetMode, Team

ADD_CREDITS_TEMPLATE = "admin/credits/add_credits.html"
ADD_CREDITS_PERMISSION = "credits.change_creditaccount"
BUDGET_MODE_TEMPLATE = "admin/teams/team/change_budget_mode.html"


class AddCreditsForm(forms.Form):
    credits = forms.IntegerField(min_value=1, max_value=MAX_CREDITS_PER_OPERATION)
    reason = forms.CharField(max_length=500, required=False)
    token = forms.UUIDField(widget=forms.HiddenInput)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is never edited by hand: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "team",
        "credits_allocated",
        "credits_used",
        "credits_reserved",
        "credits_remaining",
        "add_credits_link",
    ]
    list_select_related = ["team__organization"]
    list_filter = ["team__status", "team__organization"]
    search_fields = ["team__team_id", "team__team_alias"]
    ordering = ["team__team_id"]
    actions = ["add_credits_action"]

    def has_add_credits_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADD_CREDITS_PERMISSION)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if self.has_add_credits_permission(request):
            return self.list_display
        return [name for name in self.list_display if name != "add_credits_link"]

    @admin.display(description="remaining")
    def credits_remaining(self, account: CreditAccount) -> int:
        return account.credits_remaining

    @admin.display(description="")
    def add_credits_link(self, account: CreditAccount) -> str:
        url = reverse("admin:credits_creditaccount_add_credits", args=[account.pk])
        return format_html('<a class="button" href="{}">Add credits</a>', url)

    @admin.action(
        description="Add credits to the selected account", permissions=["add_credits"]
    )
    def add_credits_action(
        self, request: HttpRequest, queryset: QuerySet[CreditAccount]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one account to add credits to.", messages.ERROR
            )
            return None
        url = reverse(
            "admin:credits_creditaccount_add_credits", args=[queryset.get().pk]
        )
        return HttpResponseRedirect(url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.add_credits_view)
        return [
            path(
                "<int:account_id>/add-credits/",
                view,
                name="credits_creditaccount_add_credits",
            ),
            *super().get_urls(),
        ]

    def add_credits_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        if not request.user.has_perm(ADD_CREDITS_PERMISSION):
            raise PermissionDenied
        account = get_object_or_404(
            CreditAccount.objects.select_related("team"), pk=account_id
        )
        if request.method == "POST":
            form = AddCreditsForm(request.POST)
            if form.is_valid():
                try:
                    # Audit-logged by the service (once: a resend adds nothing).
                    entry = credit_add(
                        team=account.team,
                        credits=form.cleaned_data["credits"],
                        entry_type=EntryType.ALLOCATION,
                        reason=form.cleaned_data["reason"],
                        actor=admin_actor(request),
                        idempotency_key=f"admin-form:{form.cleaned_data['token']}",
                    )
                except ServiceError as error:
                    form.add_error(None, error.detail)
                else:
                    self.message_user(
                        request,
                        f"{account.team.team_id}: {entry.amount} credits added "
                        f"(transaction {entry.transaction_id}).",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:teams_team_change", args=[account.team_id])
                    )
        else:
            form = AddCreditsForm(initial={"token": uuid.uuid4()})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Add credits to {account.team.team_id}",
            "account": account,
            "form": form,
        }
        return TemplateResponse(request, ADD_CREDITS_TEMPLATE, context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "team",
        "entry_type",
        "amount",
        "balance_before",
        "balance_after",
        "job_id",
        "actor",
        "reason",
    ]
    list_filter = ["entry_type", "account__team__organization"]
    list_select_related = ["account__team"]
    search_fields = ["account__team__team_id", "job_id", "reason", "actor"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    @admin.display(description="Team", ordering="account__team__team_id")
    def team(self, entry: LedgerEntry) -> str:
        return entry.account.team.team_id


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "team",
        "job_id",
        "amount",
        "status",
        "expires_at",
        "closed_at",
    ]
    list_filter = ["status", "account__team"]
    list_select_related = ["account__team"]
    search_fields = ["account__team__team_id", "job_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]

    @admin.display(description="Team", ordering="account__team__team_id")
    def team(self, hold: CreditHold) -> str:
        return hold.account.team.team_id


# --- The team page's credits part ---------------------------------------------------


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


class TeamAdminWithCredits(TeamAdminBase):
    list_display = [
        "team_id",
        "team_alias",
        "organization",
        "status",
        "budget_mode",
        "credits_available",
        "created_at",
    ]
    actions = [*TeamAdminBase.actions, "change_budget_mode"]
    # The balance opens the "Credits" section.
    fieldsets = [
        (name, {**options, "fields": ["credit_balance", *options["fields"]]})
        if name == "Credits"
        else (name, options)
        for name, options in TeamAdminBase.fieldsets
    ]
    readonly_fields = [*TeamAdminBase.readonly_fields, "credit_balance"]
    add_form = TeamOnboardingForm
    add_fields = [*TEAM_CREATION_FIELDS, "initial_credits"]

    def save_model(
        self, request: HttpRequest, obj: Team, form: forms.ModelForm, change: bool
    ) -> None:
        """The API's services: team_onboard creates the team, its first key and its
        funded account in one transaction; team_settings_update changes settings and
        access groups (validated and audit-logged there)."""
        if not change:
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
        # Every editable field of the page is a setting or the access groups.
        changed = changed_values(form, [*TEAM_SETTING_FIELDS, "access_groups"])
        if "access_groups" in changed:
            changed["access_groups"] = [g.group_name for g in changed["access_groups"]]
        if changed:
            team_settings_update(team=obj, actor=admin_actor(request), **changed)

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

    @admin.display(description="Credit balance")
    def credit_balance(self, obj: Team) -> str:
        try:
            account = obj.credit_account
        except ObjectDoesNotExist:
            return "No credit account"
        rows = format_html_join(
            "",
            "<tr><th scope='row'>{}</th><td>{}</td></tr>",
            [
                ("Allocated", account.credits_allocated),
                ("Used", account.credits_used),
                ("Reserved (open holds)", account.credits_reserved),
                ("Available", account.credits_remaining),
            ],
        )
        add_url = reverse("admin:credits_creditaccount_add_credits", args=[account.pk])
        return format_html(
            '<p>{} remaining</p><table class="team-balance">{}</table>'
            '<a class="button" href="{}">Add credits</a>',
            account.credits_remaining,
            rows,
            add_url,
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
