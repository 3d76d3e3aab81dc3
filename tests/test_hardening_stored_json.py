"""Stored JSON values (metadata) are held to one check: json_value_check."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from rest_framework.exceptions import ValidationError

from saas_litellm.json_input import json_value_check
from teams.models import Team


@pytest.mark.parametrize(
    "value",
    [
        {"a": "b\x00"},
        {"a\x00": 1},
        {"a": ["\ud800"]},
        {"a": float("nan")},
        {"a": float("inf")},
        {"a": 10**400},
        {"a": "x" * 20_000},
    ],
)
def test_a_value_we_cannot_store_is_refused(value):
    with pytest.raises(ValidationError):
        json_value_check(value, name="Metadata")


def test_a_storable_value_passes():
    json_value_check({"a": ["é" * 1000, 1.5, None, {"b": True}]}, name="Metadata")


def test_the_size_message_names_the_value():
    with pytest.raises(ValidationError, match="Metadata must be at most 10 "):
        json_value_check({"a": "x" * 20}, name="Metadata", max_chars=10)


@pytest.mark.django_db
def test_over_large_team_metadata_is_a_400(admin_client_api, organization):
    body = {
        "organization_id": "org_acme",
        "team_id": "t1",
        "metadata": {"a": "x" * 20_000},
    }
    response = admin_client_api.post("/api/teams/create", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "metadata" in response.json()["errors"]
    assert not Team.objects.filter(team_id="t1").exists()
