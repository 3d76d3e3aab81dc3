"""Credits added through the API are audit-logged like those added in the dashboard:
credit_add writes the record, in the transaction of the ledger entry."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.services import credit_add
from teams.models import AuditLog

pytestmark = pytest.mark.django_db


def credit_audits(team):
    return AuditLog.objects.filter(action="credits.add", object_id=team.team_id)


def test_credits_added_through_the_api_are_audit_logged(admin_client_api, team):
    response = admin_client_api.post(
        "/api/credits/teams/acme-corp/add",
        {"credits": 30, "reason": "promo"},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    transaction_id = response.json()["transaction"]["transaction_id"]
    entry = credit_audits(team).get(after__transaction_id=transaction_id)
    assert (entry.after["credits"], entry.after["reason"]) == (30, "promo")


def test_a_replenishment_through_the_api_is_audit_logged(admin_client_api, team):
    admin_client_api.post(
        "/api/credits/teams/acme-corp/replenish",
        {"credits": 40, "payment_type": "one_time"},
        format="json",
    )
    entry = credit_audits(team).get(after__credits=40)
    assert entry.after["entry_type"] == "replenishment"


def test_a_repeated_idempotent_add_is_audit_logged_once(team):
    before = credit_audits(team).count()
    for _ in range(2):
        credit_add(team=team, credits=5, actor="tests", idempotency_key="once")
    assert credit_audits(team).count() == before + 1
