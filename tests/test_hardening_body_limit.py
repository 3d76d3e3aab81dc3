"""A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 on every path
(saas_litellm.middleware.RequestGuardMiddleware), before any view reads it."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from teams.models import Organization

pytestmark = pytest.mark.django_db

TOO_LARGE = {"detail": "Request body too large", "code": "request_too_large"}


def huge_json(size: int = 3 * 1024 * 1024) -> str:
    return (
        '{"organization_id": "o", "name": "n", "metadata": {"x": "' + "x" * size + '"}}'
    )


@pytest.mark.parametrize(
    "url", ["/api/organizations/create", "/api/jobs/create", "/health", "/admin/login/"]
)
def test_a_huge_body_is_a_json_413(admin_client_api, url):
    response = admin_client_api.post(url, huge_json(), content_type="application/json")
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json() == {**TOO_LARGE, "request_id": response["X-Request-Id"]}


def test_nothing_is_written(admin_client_api):
    admin_client_api.post(
        "/api/organizations/create", huge_json(), content_type="application/json"
    )
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("size", "status"),
    [(900, HTTPStatus.CREATED), (1100, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)],
)
def test_the_limit_is_the_setting(admin_client_api, settings, size, status):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = huge_json(size - len(huge_json(0)))
    response = admin_client_api.post(
        "/api/organizations/create", body, content_type="application/json"
    )
    assert response.status_code == status


def test_a_malformed_content_length_is_a_json_400(db):
    response = Client().get("/health", CONTENT_LENGTH="many")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid_request"
