"""Organization and team ids in paths that cannot be slugs are JSON 404s, answered
before any query (the <slug_id:…> converter)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

ODD_IDS = [
    "a%00b",
    "-leading-dash",
    ".dot",
    "a%20b",
    "t%C3%ABam",
    "a" * 101,
    "%F0%9F%98%80",
]
PATHS = [
    "/api/organizations/{}",
    "/api/organizations/{}/teams",
    "/api/teams/{}",
    "/api/teams/{}/keys",
    "/api/credits/teams/{}/balance",
    "/api/credits/teams/{}/transactions",
    "/api/models/{}",
    "/api/model-access-groups/{}",
]  # fmt: skip


@pytest.mark.parametrize("odd_id", ODD_IDS)
@pytest.mark.parametrize("path", PATHS)
def test_an_odd_id_in_a_path_is_a_json_404_without_a_query(
    admin_client_api, django_assert_num_queries, path, odd_id
):
    with django_assert_num_queries(0):
        response = admin_client_api.get(path.format(odd_id))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {
        "detail": "Not found",
        "code": "not_found",
        "request_id": response["X-Request-Id"],
    }


@pytest.mark.parametrize("odd_id", ["a%00b", "a" * 101])
def test_an_odd_team_id_in_a_write_path_is_a_404(admin_client_api, odd_id):
    response = admin_client_api.post(f"/api/credits/teams/{odd_id}/add", {"credits": 1})
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_slug_id_still_reaches_the_view(admin_client_api, team):
    response = admin_client_api.get("/api/credits/teams/acme-corp/balance")
    assert response.status_code == HTTPStatus.OK
