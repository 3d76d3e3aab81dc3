"""Bad input: the right 4xx, nothing charged, no provider contacted."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from jobs.models import LLMCall
from jobs.tests.conftest import call_body, ledger_snapshot

HELLO = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "body",
    [
        {"messages": HELLO},
        {"model": "chat", "messages": []},
        {"model": "chat", "messages": "hello"},
        {"model": "chat", "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": "chat", "messages": [{"role": "user"}]},
        {"model": "chat", "messages": [{"role": "user", "content": 5}]},
        {"model": "chat", "messages": ["hi"]},
        {"model": 5, "messages": HELLO},
        {"model": "chat", "messages": HELLO, "max_tokens": 0},
        {"model": "chat", "messages": HELLO, "max_tokens": 10**9},
        {"model": "chat", "messages": HELLO, "max_tokens": "many"},
        {"model": "chat", "messages": HELLO, "max_tokens": True},
        {"model": "chat", "messages": HELLO, "temperature": 3},
        {"model": "chat", "messages": HELLO, "temperature": "hot"},
        {"model": "chat", "messages": HELLO, "top_p": 2},
        {"model": "chat", "messages": HELLO, "stop": ["a", "b", "c", "d", "e"]},
        {"model": "chat", "messages": HELLO, "response_format": "json"},
        {"model": "chat", "messages": HELLO, "tools": {"a": 1}},
    ],
)
def test_invalid_call_bodies_are_400(team_client, team, job_id, fake_provider, body):
    before = (ledger_snapshot(team), fake_provider.request_count)
    response = team_client.post(f"/api/jobs/{job_id}/llm-call", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"]
    assert (ledger_snapshot(team), fake_provider.request_count) == before
    assert not LLMCall.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', ""])
def test_a_body_that_is_not_a_json_object_is_400(team_client, job_id, raw):
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", raw, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"]


def test_max_tokens_above_the_aliases_limit_is_400(
    team_client, team, job_id, chat_alias, fake_provider
):
    chat_alias.max_output_tokens = 100
    chat_alias.save()
    before = (ledger_snapshot(team), fake_provider.request_count)
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(max_tokens=101), format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert (ledger_snapshot(team), fake_provider.request_count) == before


DENIED = {
    "detail": "Team does not have access to the requested model",
    "code": "model_access_denied",
}


def test_an_unknown_alias_is_403_model_access_denied(
    team_client, job_id, fake_provider
):
    before = fake_provider.request_count
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(model="nope"), format="json"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {**DENIED, "request_id": response["X-Request-Id"]}
    assert fake_provider.request_count == before


def test_an_alias_outside_the_teams_groups_gets_the_same_answer(
    team_client, job_id, make_alias
):
    make_alias("private", grouped=False)
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(model="private"), format="json"
    )
    assert response.json() == {**DENIED, "request_id": response["X-Request-Id"]}


def test_an_inactive_alias_is_refused(team_client, job_id, chat_alias):
    chat_alias.is_active = False
    chat_alias.save()
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert response.json() == {**DENIED, "request_id": response["X-Request-Id"]}


def test_an_inactive_access_group_is_refused(team_client, job_id, access_group):
    access_group.is_active = False
    access_group.save()
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert response.json() == {**DENIED, "request_id": response["X-Request-Id"]}


def test_another_teams_job_is_404(other_team_client, job_id, fake_provider):
    before = fake_provider.request_count
    response = other_team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert fake_provider.request_count == before


@pytest.mark.parametrize(
    "job_ref", ["not-a-uuid", "123", "00000000-0000-0000-0000-000000000000"]
)
def test_a_malformed_or_unknown_job_id_is_404(team_client, chat_alias, job_ref):
    response = team_client.post(
        f"/api/jobs/{job_ref}/llm-call", call_body(), format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Job not found"


def test_a_call_without_a_key_is_401_with_www_authenticate(anonymous_client, job_id):
    response = anonymous_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Invalid or missing API key",
        "code": "invalid_api_key",
        "request_id": response["X-Request-Id"],
    }


def test_the_admin_key_is_not_a_team_key(admin_client_api, job_id):
    response = admin_client_api.post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_get_on_a_call_endpoint_is_405(team_client, job_id):
    response = team_client.get(f"/api/jobs/{job_id}/llm-call")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_a_validation_error_names_the_field_like_every_other_endpoint(
    team_client, job_id
):
    response = team_client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(max_tokens="ten"), format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("Invalid request: max_tokens:")
    assert "max_tokens" in response.json()["errors"]
