from __future__ import annotations

import uuid
from http import HTTPStatus

import pytest

from credits.services import credit_add, credit_capture, credit_reserve

pytestmark = pytest.mark.django_db


def test_transactions_are_listed_newest_first_with_before_and_after(team_client, team):
    job_id = uuid.uuid4()
    credit_reserve(team=team, job_id=job_id, credits=2)
    credit_capture(team=team, job_id=job_id, credits=2, reason="job done")
    response = team_client.get("/api/credits/teams/acme-corp/transactions")
    assert response.status_code == HTTPStatus.OK
    newest, first = response.json()["transactions"]
    assert newest == {
        "transaction_id": newest["transaction_id"],
        "type": "deduction",
        "credits_amount": -2,
        "credits_before": 100,
        "credits_after": 98,
        "job_id": str(job_id),
        "reason": "job done",
        "created_at": newest["created_at"],
    }
    assert (first["type"], first["credits_after"]) == ("allocation", 100)
    assert newest["created_at"].endswith("Z")


def test_the_limit_keeps_the_newest_transactions(team_client, team):
    for credits in (1, 2, 3):
        credit_add(team=team, credits=credits)
    response = team_client.get("/api/credits/teams/acme-corp/transactions?limit=2")
    amounts = [t["credits_amount"] for t in response.json()["transactions"]]
    assert amounts == [3, 2]


@pytest.mark.parametrize("limit", ["0", "501", "ten", "-1", "1.5"])
def test_a_bad_limit_is_400(team_client, limit):
    response = team_client.get(
        f"/api/credits/teams/acme-corp/transactions?limit={limit}"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("Invalid request: limit")


def test_another_teams_transactions_are_forbidden(team_client, other_team):
    response = team_client.get("/api/credits/teams/globex/transactions")
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_the_operator_reads_any_teams_transactions(admin_client_api, other_team):
    response = admin_client_api.get("/api/credits/teams/globex/transactions")
    assert len(response.json()["transactions"]) == 1
