"""Operator dashboard for credits: balances, the ledger and holds, all read-only.

Adding credits is a form on its own page that calls the same service as the API
(`credit_add`). The form carries a hidden one-time token used as the ledger entry's
idempotency key, so a double submit (or a browser resend) adds the credits once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from credits.models import CreditAccount, CreditHold, EntryType, LedgerEntry
from credits.services import MAX_CREDITS_PER_OPERATION, credit_add
from saas_litellm.exceptions import ServiceError
from teams.services import audit_log_write

ADD_CREDITS_TEMPLATE = "admin/credits/add_credits.html"
ADD_CREDITS_PERMISSION = "credits.change_creditaccount"


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
                actor = f"admin:{request.user.get_username()}"
                idempotency_key = f"admin-form:{form.cleaned_data['token']}"
                # A resend of the form returns the first entry; audit-log it once.
                is_resend = account.entries.filter(
                    idempotency_key=idempotency_key
                ).exists()
                try:
                    entry = credit_add(
                        team=account.team,
                        credits=form.cleaned_data["credits"],
                        entry_type=EntryType.ALLOCATION,
                        reason=form.cleaned_data["reason"],
                        actor=actor,
                        idempotency_key=idempotency_key,
                    )
                except ServiceError as error:
                    form.add_error(None, error.detail)
                else:
                    if not is_resend:
                        audit_log_write(
                            actor=actor,
                            action="credits.add",
                            obj=account.team,
                            object_id=account.team.team_id,
                            after={
                                "credits": entry.amount,
                                "reason": entry.reason,
                                "transaction_id": str(entry.transaction_id),
                            },
                        )
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
