"""The published guide's team examples, run exactly as written: no admin key, from
the loopback address of the development server (ADMIN_LOOPBACK_TRUST)."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from credits.tests.factories import AccessGroupFactory
from teams.services import organization_create

pytestmark = pytest.mark.django_db

GUIDE_CREATE_BODY = """{
    "organization_id": "org_acme",
    "team_id": "acme-corp",
    "team_alias": "ACME Corp Team",
    "access_groups": ["gpt-models"],
    "credits_allocated": 1000
  }"""
# The guide's response, but for the key itself (random) which is checked by pattern.
GUIDE_RESPONSE = {
    "team_id": "acme-corp",
    "organization_id": "org_acme",
    "credits_allocated": 1000,
    "credits_remaining": 1000,
    "status": "active",
}


@pytest.fixture
def guide_catalogue(db) -> None:
    organization_create(organization_id="org_acme", name="ACME", actor="tests")
    AccessGroupFactory(group_name="gpt-models")


@override_settings(ADMIN_LOOPBACK_TRUST=True)
def test_the_guides_team_examples_work_as_written(guide_catalogue):
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    created = client.post(
        "/api/teams/create", GUIDE_CREATE_BODY, content_type="application/json"
    )
    assert created.status_code == HTTPStatus.CREATED
    body = created.json()
    assert re.fullmatch(r"sk-[0-9a-f]{32}", body["virtual_key"])
    assert {field: body[field] for field in GUIDE_RESPONSE} == GUIDE_RESPONSE

    shown = client.get("/api/teams/acme-corp", content_type="application/json")
    assert shown.status_code == HTTPStatus.OK
    team = shown.json()
    assert (team["team_id"], team["organization_id"], team["status"]) == (
        "acme-corp",
        "org_acme",
        "active",
    )
    assert team["credits_remaining"] == 1000
    assert "virtual_key" not in team
    assert body["virtual_key"] not in shown.content.decode()

    balance = APIClient().get(
        "/api/credits/balance?team_id=acme-corp",
        HTTP_AUTHORIZATION=f"Bearer {body['virtual_key']}",
    )
    assert balance.status_code == HTTPStatus.OK
    assert balance.json()["credits_remaining"] == 1000


def test_without_loopback_trust_the_guides_create_needs_the_admin_key(guide_catalogue):
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    response = client.post(
        "/api/teams/create", GUIDE_CREATE_BODY, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
