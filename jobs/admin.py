"""Operator dashboard for jobs and LLM calls: read-only history.

Calls show the real model and costs (the operator's view); nothing here can edit a
job or a call, so billing history stays as the services wrote it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import Job, LLMCall


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
        "job_type",
        "status",
        "credits_charged",
        "created_at",
        "completed_at",
    )
    list_filter = ("status",)
    search_fields = ("job_id", "team__team_id", "job_type", "user_id")
    list_select_related = ("team",)
    date_hierarchy = "created_at"
    inlines = [LLMCallInline]


@admin.register(LLMCall)
class LLMCallAdmin(ReadOnlyAdmin):
    list_display = (
        "call_id",
        "team",
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
    list_filter = ("status", "streamed")
    search_fields = ("call_id", "job__job_id", "team__team_id", "model_alias")
    list_select_related = ("team",)
    date_hierarchy = "created_at"
