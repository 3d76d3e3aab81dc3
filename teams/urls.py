"""Routes of the teams app (full paths). Fixed paths such as /api/teams/verify come
before any /api/teams/<team_id> route, which the credits app defines."""

from __future__ import annotations

from django.urls import URLPattern, path

import saas_litellm.converters  # noqa: F401 - registers the <slug_id:…> converter
from teams import api

TEAM = "api/teams/<slug_id:team_id>"
CREDENTIAL = "api/provider-credentials/<str:credential_id>"

urlpatterns: list[URLPattern] = [
    # Organizations
    path("api/organizations/create", api.OrganizationCreateView.as_view()),
    path("api/organizations", api.OrganizationListView.as_view()),
    path(
        "api/organizations/<slug_id:organization_id>",
        api.OrganizationDetailView.as_view(),
    ),
    path(
        "api/organizations/<slug_id:organization_id>/teams",
        api.OrganizationTeamsView.as_view(),
    ),
    # Teams: status, access and keys
    path("api/teams/verify", api.TeamVerifyView.as_view()),
    path(f"{TEAM}/suspend", api.TeamSuspendView.as_view()),
    path(f"{TEAM}/pause", api.TeamPauseView.as_view()),
    path(f"{TEAM}/resume", api.TeamResumeView.as_view()),
    path(f"{TEAM}/access-groups", api.TeamAccessGroupsView.as_view()),
    path(f"{TEAM}/keys", api.TeamKeysView.as_view()),
    path(f"{TEAM}/keys/<str:key_id>/rotate", api.KeyRotateView.as_view()),
    path(f"{TEAM}/keys/<str:key_id>/revoke", api.KeyRevokeView.as_view()),
    # Model catalogue
    path("api/models/create", api.ModelAliasCreateView.as_view()),
    path("api/models", api.ModelAliasListView.as_view()),
    path("api/models/<slug_id:alias>", api.ModelAliasDetailView.as_view()),
    path("api/model-access-groups/create", api.AccessGroupCreateView.as_view()),
    path("api/model-access-groups", api.AccessGroupListView.as_view()),
    path(
        "api/model-access-groups/<slug_id:group_name>",
        api.AccessGroupDetailView.as_view(),
    ),
    path(
        "api/model-access-groups/<slug_id:group_name>/models",
        api.AccessGroupModelsView.as_view(),
    ),
    path("api/provider-credentials/create", api.ProviderCredentialCreateView.as_view()),
    path("api/provider-credentials", api.ProviderCredentialListView.as_view()),
    path(CREDENTIAL, api.ProviderCredentialDetailView.as_view()),
    path(f"{CREDENTIAL}/activate", api.ProviderCredentialActivateView.as_view()),
    path(f"{CREDENTIAL}/deactivate", api.ProviderCredentialDeactivateView.as_view()),
]
