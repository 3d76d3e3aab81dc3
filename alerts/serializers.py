"""Request and response shapes of the alerts API. A webhook's secret appears in one
response only: the one that creates it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import (
    DeliveryAttempt,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from teams.serializers import URL_PATTERN, StrictIntegerField, slug_field


class AlertRulesSerializer(serializers.Serializer):
    thresholds_percent = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=100), max_length=10
    )
    low_credits = StrictIntegerField(
        min_value=0, max_value=10**12, allow_null=True, required=False, default=None
    )


class AlertRulesResponseSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    thresholds_percent = serializers.ListField(child=serializers.IntegerField())
    low_credits = serializers.IntegerField(allow_null=True)


@extend_schema_field(
    {"type": "string", "maxLength": 500, "pattern": URL_PATTERN, "format": "uri"}
)
class WebhookURLField(serializers.URLField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=500, **kwargs)


class WebhookCreateSerializer(serializers.Serializer):
    url = WebhookURLField()
    organization_id = slug_field(required=False, allow_null=True)
    team_id = slug_field(required=False, allow_null=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.values),
        max_length=len(EventType.values),
        required=False,
    )


class WebhookSerializer(serializers.ModelSerializer):
    organization_id = serializers.SerializerMethodField()
    team_id = serializers.SerializerMethodField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.values)
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "webhook_id",
            "url",
            "organization_id",
            "team_id",
            "events",
            "secret_prefix",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields

    def get_organization_id(self, endpoint: WebhookEndpoint) -> str | None:
        organization = endpoint.organization
        return organization.organization_id if organization else None

    def get_team_id(self, endpoint: WebhookEndpoint) -> str | None:
        return endpoint.team.team_id if endpoint.team else None


class CreatedWebhookSerializer(WebhookSerializer):
    secret = serializers.SerializerMethodField()

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, endpoint: WebhookEndpoint) -> str:
        """Shown once: the response of the request that creates the endpoint."""
        return self.context["secret"]


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "status_code", "latency_ms", "error"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.event_id")
    type = serializers.CharField(source="event.event_type")
    attempt_log = DeliveryAttemptSerializer(many=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "event_id",
            "type",
            "status",
            "attempts",
            "next_attempt_at",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields
