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
    list_select_related = ["team"]
    search_fields = ["team__team_id", "team__team_alias"]
    actions = ["add_credits_action"]

    @admin.display(description="remaining")
    def credits_remaining(self, account: CreditAccount) -> int:
        return account.credits_remaining

    @admin.display(description="")
    def add_credits_link(self, account: CreditAccount) -> str:
        url = reverse("admin:credits_creditaccount_add_credits", args=[account.pk])
        return format_html('<a class="button" href="{}">Add credits</a>', url)

    @admin.action(description="Add credits to the selected account")
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
                    entry = credit_add(
                        team=account.team,
                        credits=form.cleaned_data["credits"],
                        entry_type=EntryType.ALLOCATION,
                        reason=form.cleaned_data["reason"],
                        actor=f"admin:{request.user.get_username()}",
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
                        reverse("admin:credits_creditaccount_changelist")
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
        "account",
        "entry_type",
        "amount",
        "balance_before",
        "balance_after",
        "job_id",
        "actor",
        "reason",
    ]
    list_filter = ["entry_type"]
    list_select_related = ["account__team"]
    search_fields = ["account__team__team_id", "job_id", "reason", "actor"]
    date_hierarchy = "created_at"


@admin.register(CreditHold)
class CreditHoldAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "job_id", "amount", "status", "expires_at"]
    list_filter = ["status"]
    list_select_related = ["account__team"]
    search_fields = ["account__team__team_id", "job_id"]
