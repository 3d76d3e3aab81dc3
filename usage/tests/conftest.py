"""Fixtures of the usage tests: aliases answered offline by litellm's mock_response
(through the real call pipeline), and helpers that make calls through the API."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from rest_framework.test import APIClient

from teams.models import ModelAccessGroup, ModelAlias, Team
from teams.tests.factories import ModelAccessGroupFactory, ModelAliasFactory


@pytest.fixture
def access_group(team: Team) -> ModelAccessGroup:
    group = ModelAccessGroupFactory(group_name="usage-models")
    team.access_groups.add(group)
    return group


@pytest.fixture
def mock_alias(access_group) -> ModelAlias:
    """`mock`: litellm's mock answer, priced, usable by `team`."""
    return ModelAliasFactory(
        model_alias="mock",
        mock_response="A mocked answer from the model.",
        access_groups=[access_group],
    )


@pytest.fixture
def failing_alias(access_group) -> ModelAlias:
    """`broken`: litellm's mock raises a provider error (the call fails)."""
    return ModelAliasFactory(
        model_alias="broken",
        mock_response="litellm.InternalServerError",
        access_groups=[access_group],
    )


def job_open(client: APIClient, job_type: str = "report", **fields: Any) -> str:
    response = client.post(
        "/api/jobs/create",
        {"team_id": "acme-corp", "job_type": job_type, **fields},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    return response.json()["job_id"]


def job_call(client: APIClient, job_id: str, model: str = "mock") -> Any:
    return client.post(
        f"/api/jobs/{job_id}/llm-call",
        {"model": model, "messages": [{"role": "user", "content": "hello there"}]},
        format="json",
    )


def job_complete(client: APIClient, job_id: str) -> Any:
    return client.post(
        f"/api/jobs/{job_id}/complete", {"status": "completed"}, format="json"
    )


def chat(client: APIClient, model: str = "mock", **fields: Any) -> Any:
    """A one-call job: /v1/chat/completions without X-Job-Id."""
    return client.post(
        "/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields},
        format="json",
    )
