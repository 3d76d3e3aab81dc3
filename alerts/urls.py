"""Routes of the alerts app (full paths)."""

from __future__ import annotations

from django.urls import URLPattern, path

import saas_litellm.converters  # noqa: F401 - registers the <slug_id:…> converter
from alerts import api

WEBHOOK = "api/webhooks/<str:webhook_id>"

urlpatterns: list[URLPattern] = [
    path("api/teams/<slug_id:team_id>/alerts", api.TeamAlertsView.as_view()),
    path("api/webhooks", api.WebhooksView.as_view()),
    path(WEBHOOK, api.WebhookDetailView.as_view()),
    path(f"{WEBHOOK}/deliveries", api.WebhookDeliveriesView.as_view()),
]
