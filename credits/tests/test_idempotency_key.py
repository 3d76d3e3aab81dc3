from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.utils import timezone

from credits.idempotency import idempotency_begin, request_fingerprint
from credits.models import IdempotencyRecord, LedgerEntry
from teams.models import Team, VirtualKey

pytestmark = pytest.mark.django_db

ADD = "/api/credits/teams/acme-corp/add"


def post_add(client, body, key="retry-1"):
    return client.post(ADD, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def entries(team) -> int:
    return LedgerEntry.objects.filter(account__team=team).count()


def test_a_repeat_with_the_same_key_and_body_returns_the_first_answer(
    admin_client_api, team
):
    first = post_add(admin_client_api, {"credits": 5})
    again = post_add(admin_client_api, {"credits": 5})
    assert again.status_code == HTTPStatus.CREATED
    assert again.json() == first.json()
    assert entries(team) == 2


def test_key_order_and_spacing_of_the_body_do_not_matter(admin_client_api, team):
    post_add(admin_client_api, {"credits": 5, "reason": "x"})
    again = admin_client_api.post(
        ADD,
        '{ "reason": "x",  "credits": 5 }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    assert again.status_code == HTTPStatus.CREATED
    assert entries(team) == 2


def test_the_same_key_with_another_body_is_422(admin_client_api, team):
    post_add(admin_client_api, {"credits": 5})
    response = post_add(admin_client_api, {"credits": 6})
    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["code"] == "idempotency_key_reused"
    assert entries(team) == 2


def test_a_repeat_while_the_first_is_still_running_is_409(admin_client_api, team):
    idempotency_begin(
        scope=f"POST {ADD}",
        key="retry-1",
        fingerprint=request_fingerprint({"credits": 5}),
    )
    response = post_add(admin_client_api, {"credits": 5})
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "idempotency_in_progress"
    assert entries(team) == 1


def test_a_failed_request_lets_go_of_its_key_so_a_retry_can_succeed(
    admin_client_api, team
):
    assert (
        post_add(admin_client_api, {"credits": 0}).status_code == HTTPStatus.BAD_REQUEST
    )
    assert not IdempotencyRecord.objects.exists()
    assert post_add(admin_client_api, {"credits": 5}).status_code == HTTPStatus.CREATED
    assert entries(team) == 2


def test_one_key_on_two_endpoints_are_two_requests(admin_client_api, team, other_team):
    post_add(admin_client_api, {"credits": 5})
    response = admin_client_api.post(
        "/api/credits/teams/globex/add",
        {"credits": 5},
        format="json",
        HTTP_IDEMPOTENCY_KEY="retry-1",
    )
    assert response.json()["balance"]["team_id"] == "globex"


def test_replenish_and_budget_mode_are_idempotent_too(admin_client_api, team):
    body = {"credits": 9, "payment_type": "one_time"}
    for _ in range(2):
        response = admin_client_api.post(
            "/api/credits/teams/acme-corp/replenish",
            body,
            format="json",
            HTTP_IDEMPOTENCY_KEY="pay-1",
        )
        assert response.status_code == HTTPStatus.CREATED
    assert entries(team) == 2
    patch = admin_client_api.patch(
        "/api/credits/teams/acme-corp/budget-mode",
        {"budget_mode": "consumption_usd"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="pay-1",
    )
    assert patch.status_code == HTTPStatus.OK


def test_an_over_long_key_is_400(admin_client_api, team):
    response = post_add(admin_client_api, {"credits": 5}, key="k" * 201)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Idempotency-Key" in response.json()["detail"]
    assert entries(team) == 1


def test_a_replayed_team_creation_never_shows_or_stores_the_plaintext_key(
    admin_client_api, organization
):
    body = {"organization_id": "org_acme", "team_id": "initech", "credits_allocated": 5}
    first = admin_client_api.post(
        "/api/teams/create", body, format="json", HTTP_IDEMPOTENCY_KEY="onboard-1"
    )
    again = admin_client_api.post(
        "/api/teams/create", body, format="json", HTTP_IDEMPOTENCY_KEY="onboard-1"
    )
    plaintext = first.json()["virtual_key"]
    assert again.status_code == HTTPStatus.CREATED
    assert again.json()["virtual_key"] is None
    assert "shown once" in again.json()["detail"]
    assert again.json()["key_id"] == first.json()["key_id"]
    assert plaintext not in str(IdempotencyRecord.objects.get().response_body)
    assert Team.objects.filter(team_id="initech").count() == 1
    assert VirtualKey.objects.filter(team__team_id="initech").count() == 1


def test_a_retry_after_a_stale_record_is_taken_over_still_adds_once(
    admin_client_api, team
):
    post_add(admin_client_api, {"credits": 5})
    # As if the first process died after the write, before storing its answer, and
    # the record went stale: the ledger's own key still keeps the write single.
    IdempotencyRecord.objects.update(
        response_status=None, created_at=timezone.now() - timedelta(hours=1)
    )
    again = post_add(admin_client_api, {"credits": 5})
    assert again.status_code == HTTPStatus.CREATED
    assert entries(team) == 2
