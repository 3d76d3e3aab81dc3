"""Injected provider failures: right status, call recorded failed, nothing charged."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import account, complete, llm_call
from teams.models import BudgetMode

PROVIDER_ERROR = {"detail": "LLM call failed", "code": "provider_error"}


@pytest.mark.parametrize(
    "behaviour", ["fake-fail-429", "fake-fail-500", "fake-fail-401"]
)
def test_a_provider_error_is_a_502_without_provider_detail(
    team_client, job_id, make_alias, behaviour
):
    make_alias("bad", behaviour)
    response = llm_call(team_client, job_id, model="bad")
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert response.json() == {**PROVIDER_ERROR, "request_id": response["X-Request-Id"]}
    call = LLMCall.objects.get()
    assert call.status == CallStatus.FAILED
    assert "sk-" not in call.error
    assert "(fake)" not in call.error


def test_a_request_the_provider_rejects_is_the_clients_400_without_its_message(
    team_client, job_id, make_alias
):
    make_alias("bad", "fake-fail-400")
    response = llm_call(team_client, job_id, model="bad")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "provider_rejected_request"
    assert "(fake)" not in response.json()["detail"]
    assert LLMCall.objects.get().status == CallStatus.FAILED


def test_a_provider_timeout_is_a_504(team_client, job_id, make_alias):
    make_alias("stuck", "fake-timeout")
    response = llm_call(team_client, job_id, model="stuck")
    assert response.status_code == HTTPStatus.GATEWAY_TIMEOUT
    assert response.json()["code"] == "provider_timeout"
    assert LLMCall.objects.get().status == CallStatus.FAILED


def test_a_failed_call_is_not_billed(team_client, team, job_id, make_alias):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    make_alias("bad", "fake-fail-500")
    llm_call(team_client, job_id, model="bad", max_tokens=5)
    assert LLMCall.objects.get().total_tokens == 0
    assert complete(team_client, job_id).json()["costs"]["credits_charged"] == 0
    assert account(team).credits_used == 0


def test_a_failed_call_appears_with_a_generic_error(team_client, job_id, make_alias):
    make_alias("bad", "fake-fail-500")
    llm_call(team_client, job_id, model="bad")
    calls = complete(team_client, job_id, "failed").json()["calls"]
    assert calls[0]["error"] == "LLM call failed"


def test_a_job_can_go_on_after_a_failed_call(team_client, job_id, make_alias):
    make_alias("bad", "fake-fail-500")
    llm_call(team_client, job_id, model="bad")
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
