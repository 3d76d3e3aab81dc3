"""Usage endpoints (full paths; included after the other apps' urls)."""

from __future__ import annotations

from django.urls import path

import saas_litellm.converters  # noqa: F401 - registers the <slug_id:…> converter
from usage import api

urlpatterns = [
    path("api/usage/export", api.UsageExportView.as_view(), name="usage-export"),
    path(
        "api/teams/<slug_id:team_id>/usage/export",
        api.TeamUsageExportView.as_view(),
        name="team-usage-export",
    ),
    path("api/calls/export", api.CallsExportView.as_view(), name="calls-export"),
    path(
        "api/teams/<slug_id:team_id>/calls/export",
        api.TeamCallsExportView.as_view(),
        name="team-calls-export",
    ),
]
