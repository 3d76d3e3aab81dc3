"""Alerts API (operator): a team's alert rules, and webhook endpoints with their
deliveries. Views are interfaces: validate, call one service, serialize."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import serializers as s
from alerts import services
from alerts.models import DeliveryAttempt
from saas_litellm.exceptions import NotFound
from teams.api import TeamAdminAPIView
from teams.models import Organization, Team
from teams.permissions import AdminAPIView

UNKNOWN_REFERENCE = OpenApiResponse(
    description="An organization or team the body names does not exist."
)
MAX_DELIVERIES = 200


def _valid(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _rules_data(team: Team, rules: services.TeamAlertRules) -> dict[str, Any]:
    return {
        "team_id": team.team_id,
        "thresholds_percent": rules.thresholds_percent,
        "low_credits": rules.low_credits,
    }


class TeamAlertsView(TeamAdminAPIView):
    @extend_schema(responses=s.AlertRulesResponseSerializer)
    def get(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        return Response(_rules_data(team, services.alert_rules_get(team=team)))

    @extend_schema(
        request=s.AlertRulesSerializer, responses=s.AlertRulesResponseSerializer
    )
    def put(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = _valid(s.AlertRulesSerializer, request.data)
        rules = services.alert_rules_set(team=team, actor=str(request.user), **data)
        return Response(_rules_data(team, rules))


def _scope(data: dict[str, Any]) -> dict[str, Any]:
    """organization_id / team_id in validated data as objects (unknown → 404)."""
    scope: dict[str, Any] = {}
    if organization_id := data.pop("organization_id", None):
        scope["organization"] = Organization.objects.filter(
            organization_id=organization_id
        ).first()
        if scope["organization"] is None:
            raise NotFound(f"Organization '{organization_id}' not found")
    if team_id := data.pop("team_id", None):
        scope["team"] = Team.objects.filter(team_id=team_id).first()
        if scope["team"] is None:
            raise NotFound(f"Team '{team_id}' not found")
    return {**data, **scope}


class WebhooksView(AdminAPIView):
    @extend_schema(
        operation_id="webhooks_list", responses=s.WebhookSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        endpoints = services.webhook_endpoints_active()
        return Response(s.WebhookSerializer(endpoints, many=True).data)

    @extend_schema(
        request=s.WebhookCreateSerializer,
        responses={201: s.CreatedWebhookSerializer, 404: UNKNOWN_REFERENCE},
    )
    def post(self, request: Request) -> Response:
        data = _scope(_valid(s.WebhookCreateSerializer, request.data))
        created = services.webhook_endpoint_create(**data, actor=str(request.user))
        body = s.CreatedWebhookSerializer(
            created.endpoint, context={"secret": created.secret}
        ).data
        return Response(
            body, status=HTTPStatus.CREATED, headers={"Cache-Control": "no-store"}
        )


class WebhookDetailView(AdminAPIView):
    @extend_schema(responses=s.WebhookSerializer)
    def get(self, request: Request, webhook_id: str) -> Response:
        endpoint = services.webhook_endpoint_get(webhook_id=webhook_id)
        return Response(s.WebhookSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, webhook_id: str) -> Response:
        endpoint = services.webhook_endpoint_get(webhook_id=webhook_id)
        services.webhook_endpoint_delete(endpoint=endpoint, actor=str(request.user))
        return Response(status=HTTPStatus.NO_CONTENT)


class WebhookDeliveriesView(AdminAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        responses=s.DeliverySerializer(many=True),
        description=f"The endpoint's latest {MAX_DELIVERIES} deliveries, newest "
        "first, each with its attempts.",
    )
    def get(self, request: Request, webhook_id: str) -> Response:
        endpoint = services.webhook_endpoint_get(webhook_id=webhook_id)
        deliveries = (
            endpoint.deliveries.select_related("event")
            .prefetch_related(
                Prefetch("attempt_log", DeliveryAttempt.objects.order_by("number"))
            )
            .order_by("-created_at", "-id")[:MAX_DELIVERIES]
        )
        return Response(s.DeliverySerializer(deliveries, many=True).data)
