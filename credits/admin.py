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
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import F, Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from credits.models import (
    Budget,
    BudgetPeriod,
    CreditAccount,
    CreditHold,
    EntryType,
    LedgerEntry,
)
from credits.services import (
    MAX_CREDITS_PER_OPERATION,
    TEAM_SETTING_FIELDS,
    budget_check,
    budget_get,
    budget_set,
    credit_add,
    team_budget_mode_set,
    team_onboard,
    team_settings_update,
)
from saas_litellm import sql
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
AUTOCOMPLETE_FILTER_TEMPLATE = "admin/includes/autocomplete_filter.html"
DATE_RANGE_FILTER_TEMPLATE = "admin/includes/date_range_filter.html"
# A filtered list counts at most this many rows: its pages stop there.
COUNT_CAP = 10_000
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


# --- History lists that stay fast at scale --------------------------------------------
# The calls, jobs, ledger and holds lists grow without bound. Their pages read an index
# ordered by (-created_at, -id); nothing on them counts, scans or lists a whole table:
# the paginator estimates, searches are exact lookups, the team filter is an
# autocomplete (not a list of every team), and there is no date_hierarchy (it scans
# the table for the years and months it offers).


def uuid_or_none(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


def table_row_estimate(model: type[Model]) -> int | None:
    """PostgreSQL's own estimate of a table's rows (kept by ANALYZE and autovacuum)."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """No COUNT(*) over a history table: the whole table's count is PostgreSQL's
    estimate, and a filtered list counts at most COUNT_CAP rows (in its page order,
    so the count reads the same index as the page)."""

    count_cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not queryset.query.where:
            estimate = table_row_estimate(queryset.model)
            if estimate is not None and estimate > self.count_cap:
                return estimate
        return queryset[: self.count_cap].count()


class HistoryListAdmin(ReadOnlyAdmin):
    """A read-only history list built to stay fast (see above). Subclasses say how a
    search term becomes exact lookups in `search_lookups`."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    # The search box shows when search_fields is set; get_search_results decides.
    search_fields = ["=pk"]

    def search_lookups(self, term: str) -> Q:
        raise NotImplementedError

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(self.search_lookups(term)), False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, each statement planned for the values it is given
        (`sql.custom_plans`), rendered inside: the page's rows are read then."""
        with sql.custom_plans():
            response = super().changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()
        return response

    @property
    def media(self) -> forms.Media:
        # The team filter's select2 widget (its field does not matter for the media).
        widget = AutocompleteSelect(
            CreditAccount._meta.get_field("team"), self.admin_site
        )
        return super().media + widget.media


def team_pks(team_id: str) -> list[int]:
    """A team id typed in a search box, as primary keys (no join in the list query)."""
    return list(Team.objects.filter(team_id=team_id).values_list("pk", flat=True))


def account_pks(team_id: str) -> list[int]:
    return list(
        CreditAccount.objects.filter(team__team_id=team_id).values_list("pk", flat=True)
    )


def _other_params(changelist: ChangeList, *names: str) -> list[tuple[str, str]]:
    """The list's other query parameters, kept as hidden fields of a filter's form
    (each value of each: `filter_params` holds lists, `params` one string each)."""
    return [
        (name, value)
        for name, values in changelist.filter_params.items()
        if name not in names
        for value in values
    ]


class TeamAutocompleteFilter(admin.RelatedFieldListFilter):
    """Filter by one team, chosen with the admin's autocomplete (the team page's
    search): the page never lists every team. Keeps the usual parameter
    (`team__id__exact`, `account__team__id__exact`), so links to it still work."""

    template = AUTOCOMPLETE_FILTER_TEMPLATE

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        if not self.lookup_val:
            return []
        teams = Team.objects.filter(pk__in=[v for v in self.lookup_val if v.isdigit()])
        return [(team.pk, team.team_id) for team in teams]

    def has_output(self) -> bool:
        return True

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        chosen = forms.ModelChoiceField(
            queryset=Team.objects.all(),
            required=False,
            widget=AutocompleteSelect(self.field, changelist.model_admin.admin_site),
        )
        value = self.lookup_choices[0][0] if self.lookup_choices else None
        yield {
            "selected": value is not None,
            "widget": chosen.widget.render(self.lookup_kwarg, value),
            "hidden": _other_params(
                changelist, self.lookup_kwarg, self.lookup_kwarg_isnull
            ),
            "clear_url": changelist.get_query_string(
                remove=[self.lookup_kwarg, self.lookup_kwarg_isnull]
            ),
        }


class CreatedRangeFilter(admin.ListFilter):
    """Created between two days (inclusive, in the admin's time zone), with presets."""

    title = "created"
    template = DATE_RANGE_FILTER_TEMPLATE
    start_param, end_param = "created_from", "created_to"
    presets = (("Today", 0), ("Past 7 days", 6), ("Past 30 days", 29))

    def __init__(self, request: HttpRequest, params: dict, *args: Any) -> None:
        super().__init__(request, params, *args)
        for name in self.expected_parameters():
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def expected_parameters(self) -> list[str]:
        return [self.start_param, self.end_param]

    def has_output(self) -> bool:
        return True

    def _day(self, name: str) -> date | None:
        value = self.used_parameters.get(name)
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError as error:
            raise IncorrectLookupParameters(error) from error

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        start, end = self._day(self.start_param), self._day(self.end_param)
        if start is not None:
            queryset = queryset.filter(created_at__gte=_midnight(start))
        if end is not None and end < date.max:
            queryset = queryset.filter(
                created_at__lt=_midnight(end + timedelta(days=1))
            )
        return queryset

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:
        today = timezone.localdate()
        names = self.expected_parameters()
        yield {
            "start": self.used_parameters.get(self.start_param, ""),
            "end": self.used_parameters.get(self.end_param, ""),
            "start_param": self.start_param,
            "end_param": self.end_param,
            "hidden": _other_params(changelist, *names),
            "clear_url": changelist.get_query_string(remove=names),
            "presets": [
                (
                    label,
                    changelist.get_query_string(
                        {self.start_param: str(today - timedelta(days=days))},
                        remove=names,
                    ),
                )
                for label, days in self.presets
            ],
        }


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


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
                        f"Team {account.team.team_id}: {entry.amount} credits added "
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


class BudgetForm(forms.ModelForm):
    """A key's or an end user's budget; the service's own checks, shown here."""

    class Meta:
        model = Budget
        fields = ["team", "key", "user_id", "credits", "period"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        team = data.get("team") or getattr(self.instance, "team", None)
        if team is not None and not self.errors:
            try:
                budget_check(
                    team=team,
                    key=data.get("key") or self.instance.key,
                    user_id=data.get("user_id") or self.instance.user_id,
                    credits=data.get("credits"),
                    period=data.get("period"),
                )
            except ServiceError as error:
                raise forms.ValidationError(error.detail) from None
        return data

    def validate_unique(self) -> None:
        """budget_set updates the holder's budget in place: no duplicate to refuse."""


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Budgets inside teams, written through the same service as the API
    (`budget_set`: audit log, the team's budget flag, the account lock)."""

    form = BudgetForm
    list_display = [
        "team",
        "holder",
        "credits",
        "period_shown",
        "spent",
        "remaining",
        "resets_at",
    ]
    list_select_related = ["team", "key"]
    list_filter = ["period"]
    search_fields = ["team__team_id", "user_id", "key__name", "key__key_prefix"]
    autocomplete_fields = ["team"]
    ordering = ["team__team_id", "user_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["team", "key", "user_id"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs):
        if db_field.name == "key":
            kwargs["queryset"] = db_field.related_model.objects.select_related("team")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="key or end user")
    def holder(self, budget: Budget) -> str:
        return f"key {budget.key}" if budget.key_id else f"user {budget.user_id}"

    @admin.display(description="period", ordering="period")
    def period_shown(self, budget: Budget) -> str:
        return BudgetPeriod(budget.period).label if budget.period else "all time"

    def _budget_state(self, budget: Budget) -> Any:
        """This period's spend, read once per row."""
        if not hasattr(budget, "shown_state"):
            budget.shown_state = budget_get(
                team=budget.team, key=budget.key, user_id=budget.user_id or None
            )
        return budget.shown_state

    @admin.display(description="spent this period")
    def spent(self, budget: Budget) -> int:
        return self._budget_state(budget).spent

    @admin.display(description="remaining")
    def remaining(self, budget: Budget) -> int | None:
        return self._budget_state(budget).remaining

    @admin.display(description="resets at")
    def resets_at(self, budget: Budget) -> datetime | None:
        return self._budget_state(budget).resets_at

    def save_model(
        self, request: HttpRequest, obj: Budget, form: Any, change: bool
    ) -> None:
        budget_set(
            team=obj.team,
            key=obj.key,
            user_id=obj.user_id or None,
            credits=obj.credits,
            period=obj.period,
            actor=admin_actor(request),
        )
        saved = Budget.objects.get(team=obj.team, key=obj.key, user_id=obj.user_id)
        obj.pk, obj._state.adding = saved.pk, False

    def delete_model(self, request: HttpRequest, obj: Budget) -> None:
        budget_set(
            team=obj.team,
            key=obj.key,
            user_id=obj.user_id or None,
            credits=None,
            period=None,
            actor=admin_actor(request),
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        for budget in queryset.select_related("team", "key"):
            self.delete_model(request, budget)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(HistoryListAdmin):
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
    list_filter = [
        "entry_type",
        ("account__team", TeamAutocompleteFilter),
        CreatedRangeFilter,
    ]
    list_select_related = ["account__team"]
    search_help_text = "A transaction id or job id, or a team id (exact)."
    ordering = ["-created_at", "-id"]

    def search_lookups(self, term: str) -> Q:
        value = uuid_or_none(term)
        if value is not None:
            return Q(transaction_id=value) | Q(job_id=value)
        return Q(account_id__in=account_pks(term))

    @admin.display(description="Team", ordering="account__team__team_id")
    def team(self, entry: LedgerEntry) -> str:
        return entry.account.team.team_id


@admin.register(CreditHold)
class CreditHoldAdmin(HistoryListAdmin):
    list_display = [
        "created_at",
        "team",
        "job_id",
        "amount",
        "status",
        "expires_at",
        "closed_at",
    ]
    list_filter = [
        "status",
        ("account__team", TeamAutocompleteFilter),
        CreatedRangeFilter,
    ]
    list_select_related = ["account__team"]
    search_help_text = "A hold id or job id, or a team id (exact)."
    ordering = ["-created_at", "-id"]

    def search_lookups(self, term: str) -> Q:
        value = uuid_or_none(term)
        if value is not None:
            return Q(hold_id=value) | Q(job_id=value)
        return Q(account_id__in=account_pks(term))

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
                            request,
                            f"Team {team.team_id}: {error.detail}",
                            messages.ERROR,
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
