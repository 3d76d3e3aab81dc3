"""Every response carries an X-Request-Id (the client's if sane, else a new one), and
every error body carries it as `request_id`, where its dialect puts it (API.md)."""

from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_a_response_gets_a_new_request_id(client):
    response = client.get("/health")
    assert NEW_ID.fullmatch(response["X-Request-Id"])


def test_two_requests_get_two_ids(client):
    assert (
        client.get("/health")["X-Request-Id"] != client.get("/health")["X-Request-Id"]
    )


def test_the_clients_request_id_is_echoed(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="trace-42:span/7")
    assert response["X-Request-Id"] == "trace-42:span/7"


@pytest.mark.parametrize(
    "bad", ["a" * 129, "has space", "new\tline", "caf\u00e9", "\x01ctl", ""]
)
def test_an_unreasonable_request_id_is_replaced(client, bad):
    response = client.get("/health", HTTP_X_REQUEST_ID=bad)
    assert NEW_ID.fullmatch(response["X-Request-Id"])


def test_the_asgi_path_answers_with_the_clients_id_too():
    async def get():
        return await AsyncClient().get("/health", headers={"X-Request-Id": "asgi-1"})

    assert async_to_sync(get)()["X-Request-Id"] == "asgi-1"


def test_a_native_404_carries_the_request_id(client):
    response = client.get("/api/nothing-here", HTTP_X_REQUEST_ID="req-404")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "Not found",
        "code": "not_found",
        "request_id": "req-404",
    }


@pytest.mark.django_db
def test_an_openai_401_carries_it_inside_error(client):
    response = client.post(
        "/v1/chat/completions",
        {"model": "chat", "messages": []},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer sk-bad",
    )
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["request_id"] == response["X-Request-Id"]


def test_an_anthropic_error_carries_it_beside_error(client):
    response = client.get("/v1/messages/nothing-here")
    body = response.json()
    assert (body["type"], body["error"]["type"]) == ("error", "not_found_error")
    assert body["request_id"] == response["X-Request-Id"]


def test_a_drf_400_carries_the_request_id(team_client):
    response = team_client.post("/api/jobs/create", {"team_id": 7}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["request_id"] == response["X-Request-Id"]


def test_a_drf_401_carries_the_request_id(anonymous_client):
    response = anonymous_client.get("/api/teams/verify", HTTP_X_REQUEST_ID="req-401")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["request_id"] == "req-401"
