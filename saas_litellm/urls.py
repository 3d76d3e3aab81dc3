"""URL wiring. Each app's urls.py lists full paths; teams' come first so fixed paths
such as /api/teams/verify win over /api/teams/<team_id>."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from saas_litellm import health
from saas_litellm.exceptions import json_not_found
from saas_litellm.metrics import MetricsView

handler404 = "saas_litellm.exceptions.json_not_found"
handler500 = "saas_litellm.exceptions.json_server_error"

# The operator's dashboard is Django's default admin site, branded.
admin.site.site_header = "SaaS LiteLLM"
admin.site.site_title = "SaaS LiteLLM"
admin.site.index_title = "Operator dashboard"

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("", include("teams.urls")),
    path("", include("credits.urls")),
    path("", include("jobs.urls")),
    path("", include("alerts.urls")),
    path("", include("usage.urls")),
    # Every other path is a JSON 404 in its API family's dialect, DEBUG or not
    # (handler404 is not used with DEBUG on). The admin and static files are left
    # out, so that /admin still redirects to /admin/ and assets 404 as usual.
    re_path(
        r"^(?!admin(?:/|$)|static/)[\s\S]*$",
        csrf_exempt(json_not_found),
        name="not-found",
    ),
]
