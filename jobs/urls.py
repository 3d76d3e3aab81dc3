"""Jobs endpoints (full paths; included after teams.urls and credits.urls)."""

from __future__ import annotations

from django.urls import path

import saas_litellm.converters  # noqa: F401 - registers the <slug_id:…> converter
from jobs import (
    anthropic_api,
    api,
    native_api,
    openai_api,
    openai_completions,
    openai_embeddings,
    openai_responses,
)

urlpatterns = [
    path("api/jobs/create", api.JobCreateView.as_view(), name="job-create"),
    path(
        "api/jobs/create-and-call",
        native_api.create_and_call,
        name="job-create-and-call",
    ),
    path(
        "api/jobs/create-and-call-stream",
        native_api.create_and_call_stream,
        name="job-create-and-call-stream",
    ),
    path("api/jobs/<str:job_id>", api.JobDetailView.as_view(), name="job-detail"),
    path("api/jobs/<str:job_id>/llm-call", native_api.llm_call, name="job-llm-call"),
    path(
        "api/jobs/<str:job_id>/llm-call-stream",
        native_api.llm_call_stream,
        name="job-llm-call-stream",
    ),
    path(
        "api/jobs/<str:job_id>/embeddings",
        native_api.embeddings,
        name="job-embeddings",
    ),
    path(
        "api/jobs/<str:job_id>/complete",
        api.JobCompleteView.as_view(),
        name="job-complete",
    ),
    path(
        "api/jobs/<str:job_id>/metadata",
        api.JobMetadataView.as_view(),
        name="job-metadata",
    ),
    path("api/jobs/<str:job_id>/costs", api.JobCostsView.as_view(), name="job-costs"),
    path(
        "api/teams/<slug_id:team_id>/jobs", api.TeamJobsView.as_view(), name="team-jobs"
    ),
    path(
        "api/teams/<slug_id:team_id>/usage",
        api.TeamUsageView.as_view(),
        name="team-usage",
    ),
    path(
        "api/organizations/<slug_id:organization_id>/usage",
        api.OrganizationUsageView.as_view(),
        name="organization-usage",
    ),
    path(
        "v1/chat/completions",
        openai_api.chat_completions,
        name="openai-chat-completions",
    ),
    path("v1/embeddings", openai_embeddings.embeddings, name="openai-embeddings"),
    path("v1/completions", openai_completions.completions, name="openai-completions"),
    path("v1/responses", openai_responses.responses_create, name="openai-responses"),
    path(
        "v1/responses/<str:response_id>",
        openai_responses.response_detail,
        name="openai-response",
    ),
    path("v1/messages", anthropic_api.messages, name="anthropic-messages"),
    path(
        "v1/messages/count_tokens",
        anthropic_api.count_tokens,
        name="anthropic-count-tokens",
    ),
    path("v1/models", openai_api.models_list, name="openai-models"),
    path("v1/key", openai_api.key_info, name="openai-key"),
    path("v1/models/<str:model>", openai_api.model_detail, name="openai-model"),
]
