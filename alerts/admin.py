"""Operator dashboard for alerts: the alerts fired, webhook endpoints (created and
deleted through the services the API calls; the secret shown once, on its own page,
as the response of the request that created it) and the scheduled runs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from alerts import services
from alerts.models import (
    AlertEvent,
    DeliveryStatus,
    EventType,
    ScheduleRun,
    WebhookDelivery,
    WebhookEndpoint,
)
from credits.admin import ReadOnlyAdmin
from teams.admin import admin_actor, copy_saved

SHOWN_ONCE_TEMPLATE = "admin/alerts/secret_shown_once.html"
CREATED_ATTRIBUTE = "_alerts_created_webhook"


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["endpoint", "status", "attempts", "next_attempt_at", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "event_type",
        "team",
        "rule",
        "period",
        "delivery_state",
    ]
    list_filter = ["event_type", "team__organization"]
    search_fields = ["team__team_id", "rule", "event_id"]
    list_select_related = ["team"]
    date_hierarchy = "created_at"
    fields = [
        "event_id",
        "event_type",
        "organization",
        "team",
        "rule",
        "period",
        "data",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [DeliveryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                deliveries_total=Count("deliveries"),
                deliveries_done=Count(
                    "deliveries",
                    filter=Q(deliveries__status=DeliveryStatus.DELIVERED),
                ),
                deliveries_failed=Count(
                    "deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)
                ),
            )
        )

    @admin.display(description="Delivery")
    def delivery_state(self, event: AlertEvent) -> str:
        total = event.deliveries_total
        if not total:
            return "no endpoint"
        done, failed = event.deliveries_done, event.deliveries_failed
        pending = total - done - failed
        parts = [f"{done}/{total} delivered"]
        if failed:
            parts.append(f"{failed} failed")
        if pending:
            parts.append(f"{pending} pending")
        return ", ".join(parts)


class WebhookEndpointCreationForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=EventType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "organization", "team", "events"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are created and deleted, never edited: the secret's display form
    only on the change page."""

    list_display = ["url", "organization", "team", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    list_select_related = ["organization", "team"]
    fields = [
        "webhook_id",
        "url",
        "organization",
        "team",
        "events",
        "secret_prefix",
        "is_active",
        "created_at",
        "deleted_at",
    ]
    readonly_fields = fields
    actions = None

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["url", "organization", "team", "events"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = WebhookEndpointCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(
        self,
        request: HttpRequest,
        obj: WebhookEndpoint,
        form: forms.ModelForm,
        change: bool,
    ) -> None:
        created = services.webhook_endpoint_create(
            url=form.cleaned_data["url"],
            organization=form.cleaned_data["organization"],
            team=form.cleaned_data["team"],
            events=form.cleaned_data["events"],
            actor=admin_actor(request),
        )
        copy_saved(obj, created.endpoint)
        setattr(request, CREATED_ATTRIBUTE, created)

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool
    ) -> None:
        """The service saved everything."""

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.webhook_endpoint_delete(endpoint=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            self.delete_model(request, endpoint)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """Deleting an endpoint stops its sending and keeps its row and deliveries
        (the service marks it deleted): the confirmation lists the endpoints alone,
        not the deliveries Django would otherwise refuse to cascade to."""
        shown = [str(endpoint) for endpoint in objs]
        return shown, {"webhook endpoints": len(shown)}, set(), []

    def response_add(
        self,
        request: HttpRequest,
        obj: WebhookEndpoint,
        post_url_continue: str | None = None,
    ) -> HttpResponse:
        """The only page that shows a webhook's secret; never cached."""
        created = getattr(request, CREATED_ATTRIBUTE)
        context = {
            **self.admin_site.each_context(request),
            "title": "New webhook endpoint",
            "endpoint": created.endpoint,
            "secret": created.secret,
            "back_url": reverse("admin:alerts_webhookendpoint_changelist"),
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, SHOWN_ONCE_TEMPLATE, context)
        add_never_cache_headers(response)
        return response


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ["slot_start", "name", "status", "started_at", "finished_at"]
    list_filter = ["name", "status"]
    date_hierarchy = "slot_start"
