"""Bodies PostgreSQL or the JSON reader cannot take are 400s on every DRF endpoint,
never a 500, and write nothing (saas_litellm.json_input)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from jobs.models import Job
from teams.models import Organization

pytestmark = pytest.mark.django_db


def job_body(extra: str) -> str:
    """A job create body with one more member, written as raw JSON."""
    return '{"team_id": "acme-corp", "job_type": "t", ' + extra + "}"


BAD_BODIES = {
    "NaN": job_body('"metadata": {"x": NaN}'),
    "Infinity": job_body('"metadata": {"x": -Infinity}'),
    "overflow": job_body('"metadata": {"x": 1e999}'),
    "huge integer": job_body('"metadata": {"x": ' + "9" * 400 + "}"),
    "NUL in a value": job_body('"user_id": "a\\u0000b"'),
    "NUL in a key": job_body('"metadata": {"\\u0000": 1}'),
    "lone surrogate": job_body('"user_id": "\\ud800"'),
    "lone low surrogate": job_body('"metadata": {"k": ["\\udc00"]}'),
    "1000 deep": job_body('"metadata": ' + "[" * 1000 + "]" * 1000),
    "65 deep": job_body('"metadata": ' + '{"a": ' * 64 + "1" + "}" * 64),
    "not UTF-8": job_body('"user_id": "\xff"').encode("latin-1"),
}


def post_raw(client, url: str, body: str | bytes):
    return client.post(url, data=body, content_type="application/json")


def assert_invalid_request(response) -> None:
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid_request"
    assert response.json()["detail"]


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_job_body_that_cannot_be_stored_is_a_400(team_client, team, body):
    assert_invalid_request(post_raw(team_client, "/api/jobs/create", body))
    assert not Job.objects.exists()


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_an_organization_body_that_cannot_be_stored_is_a_400(admin_client_api, body):
    assert_invalid_request(
        post_raw(admin_client_api, "/api/organizations/create", body)
    )
    assert not Organization.objects.exists()


def test_a_nul_character_is_reported_under_its_field(team_client, team):
    body = '{"team_id": "acme-corp", "job_type": "t", "metadata": {"a": ["\\u0000"]}}'
    response = post_raw(team_client, "/api/jobs/create", body)
    assert list(response.json()["errors"]) == ["metadata"]


def test_deep_nesting_is_a_malformed_body(admin_client_api):
    response = post_raw(admin_client_api, "/api/organizations/create", "[" * 5000)
    assert response.json()["detail"].startswith("Malformed request body")


def test_paired_surrogates_and_escaped_backslashes_are_accepted(team_client, team):
    body = '{"team_id": "acme-corp", "job_type": "\\ud83d\\ude00 \\\\u0000"}'
    response = post_raw(team_client, "/api/jobs/create", body)
    assert response.status_code == HTTPStatus.CREATED
    assert Job.objects.get().job_type == "\U0001f600 \\u0000"


def test_64_levels_of_nesting_are_accepted(admin_client_api):
    metadata = '{"a": ' * 63 + "1" + "}" * 63
    body = '{"organization_id": "o", "name": "n", "metadata": ' + metadata + "}"
    response = post_raw(admin_client_api, "/api/organizations/create", body)
    assert response.status_code == HTTPStatus.CREATED
