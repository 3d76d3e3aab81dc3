"""Whatever a client sends to /v1, it gets an OpenAI-shaped 4xx, never a 500."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from jobs.models import Job
from jobs.tests.conftest import ledger_snapshot

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def post(team_key, chat_alias):
    def send(body, content_type="application/json", **headers):
        return Client().post(
            "/v1/chat/completions",
            body,
            content_type=content_type,
            headers={"Authorization": f"Bearer {team_key}", **headers},
        )

    return send


def error_of(response, status):
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code", "request_id"}
    return body["error"]


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[1, 2]",
        "null",
        {"messages": MESSAGES},
        {"model": "chat"},
        {"model": 7, "messages": MESSAGES},
        {"model": "chat", "messages": "hi"},
        {"model": "chat", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "chat", "messages": MESSAGES, "n": 0},
        {"model": "chat", "messages": MESSAGES, "n": 129},
        {"model": "chat", "messages": MESSAGES, "n": True},
        {"model": "chat", "messages": MESSAGES, "seed": "7"},
        {"model": "chat", "messages": MESSAGES, "logprobs": True, "top_logprobs": 21},
        {"model": "chat", "messages": MESSAGES, "logit_bias": {"1": 101}},
        {"model": "chat", "messages": MESSAGES, "presence_penalty": 2.5},
        {"model": "chat", "messages": MESSAGES, "reasoning_effort": "extreme"},
        {"model": "chat", "messages": MESSAGES, "modalities": ["audio"]},
        {"model": "chat", "messages": MESSAGES, "metadata": {"k": 1}},
        {
            "model": "chat",
            "messages": MESSAGES,
            "metadata": {str(i): "v" for i in range(17)},
        },
        {"model": "chat", "messages": MESSAGES, "stream": "yes"},
        {"model": "chat", "messages": MESSAGES, "stream_options": []},
        {"model": "chat", "messages": MESSAGES, "stream_options": {"include_usage": 1}},
        {"model": "chat", "messages": MESSAGES, "temperature": "hot"},
        {"model": "chat", "messages": MESSAGES, "max_tokens": -1},
        {"model": "chat", "messages": MESSAGES, "max_completion_tokens": "many"},
        {"model": "chat", "messages": MESSAGES, "stop": [1]},
        {"model": "chat", "messages": MESSAGES, "tools": "all"},
        {"model": "chat", "messages": MESSAGES, "response_format": "json"},
        {"model": "chat", "messages": MESSAGES, "user": ["me"]},
        {"model": "chat", "messages": MESSAGES, "user": "u" * 201},
        {"model": "x" * 101, "messages": MESSAGES},
    ],
)
def test_bad_bodies_are_invalid_request_errors(post, team, body):
    before = ledger_snapshot(team)
    error = error_of(post(body), HTTPStatus.BAD_REQUEST)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_request"
    assert error["message"]
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before


def test_a_missing_field_is_named_in_param(post):
    error = error_of(post({"messages": MESSAGES}), HTTPStatus.BAD_REQUEST)
    assert error["param"] == "model"
    assert error["message"] == "model: This field is required."


def test_max_completion_tokens_stands_for_max_tokens(post, fake_provider):
    body = {"model": "chat", "messages": MESSAGES, "max_completion_tokens": 12}
    assert post(body).status_code == HTTPStatus.OK
    assert fake_provider.state.requests[-1]["body"]["max_tokens"] == 12


def test_fields_openai_does_not_document_are_ignored(post, fake_provider):
    body = {"model": "chat", "messages": MESSAGES, "not_an_openai_field": 1}
    assert post(body).status_code == HTTPStatus.OK
    assert "not_an_openai_field" not in fake_provider.state.requests[-1]["body"]


def test_a_get_on_chat_completions_is_method_not_allowed(team_key):
    response = Client().get(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {team_key}"}
    )
    error = error_of(response, HTTPStatus.METHOD_NOT_ALLOWED)
    assert response["Allow"] == "POST"
    assert error["code"] == "method_not_allowed"


def test_no_key_at_all_is_an_authentication_error():
    response = Client().post(
        "/v1/chat/completions", {}, content_type="application/json"
    )
    error = error_of(response, HTTPStatus.UNAUTHORIZED)
    assert error["type"] == "authentication_error"
    assert response["WWW-Authenticate"] == "Bearer"


def test_another_teams_key_sees_only_its_own_models(other_team_key, chat_alias):
    response = Client().get(
        "/v1/models", headers={"Authorization": f"Bearer {other_team_key}"}
    )
    assert response.json() == {"object": "list", "data": []}
