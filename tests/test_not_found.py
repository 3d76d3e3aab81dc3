"""Unknown paths answer JSON 404s in their API family's dialect, DEBUG or not."""

from __future__ import annotations

from http import HTTPStatus

import pytest


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def client_in_mode(request, client, settings):
    settings.DEBUG = request.param
    return client


def test_an_unknown_api_path_is_a_native_json_404(client_in_mode):
    response = client_in_mode.get("/api/nothing-here")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "Not found",
        "code": "not_found",
        "request_id": response["X-Request-Id"],
    }


def test_an_unknown_v1_path_is_an_openai_404(client_in_mode):
    response = client_in_mode.post(
        "/v1/nothing-here", {}, content_type="application/json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("not_found_error", "not_found")


def test_the_admin_without_a_slash_still_redirects(client_in_mode):
    assert client_in_mode.get("/admin").status_code == HTTPStatus.MOVED_PERMANENTLY
