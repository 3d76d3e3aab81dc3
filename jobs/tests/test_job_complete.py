from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.models import EntryType, LedgerEntry
from credits.services import team_budget_mode_set
from jobs.tests.conftest import account, complete, ledger_snapshot, llm_call


def test_completing_a_job_charges_one_credit_and_reports_the_calls(
    team_client, team, job_id
):
    call_id = llm_call(team_client, job_id, purpose="summary").json()["call_id"]
    response = complete(team_client, job_id)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "completed"
    assert body["completed_at"].endswith("Z")
    assert body["costs"]["credits_charged"] == 1
    assert body["costs"]["credit_applied"] is True
    assert body["costs"]["credits_remaining"] == 99
    assert body["costs"]["successful_calls"] == 1
    assert body["calls"][0]["call_id"] == call_id
    assert body["calls"][0]["purpose"] == "summary"
    assert body["calls"][0]["model"] == "chat"
    assert account(team).credits_reserved == 0


def test_completing_twice_returns_the_same_result_and_charges_once(
    team_client, team, job_id
):
    llm_call(team_client, job_id)
    first = complete(team_client, job_id).json()
    second = complete(team_client, job_id).json()
    assert second == first
    assert account(team).credits_used == 1
    deductions = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert deductions.count() == 1


def test_a_job_failed_by_its_client_after_a_successful_call_is_still_charged(
    team_client, team, job_id
):
    llm_call(team_client, job_id)
    body = complete(team_client, job_id, "failed").json()
    assert body["status"] == "failed"
    assert body["costs"]["credits_charged"] == 1
    assert account(team).credits_used == 1
    assert account(team).credits_reserved == 0


@pytest.mark.parametrize(
    ("mode", "rate"),
    [("consumption_tokens", {"tokens_per_credit": 10}), ("consumption_usd", {})],
)
def test_a_failed_job_pays_for_its_calls_in_the_consumption_modes(
    team_client, team, job_id, mode, rate
):
    team_budget_mode_set(team=team, budget_mode=mode, actor="tests", **rate)
    call = llm_call(team_client, job_id, max_tokens=50).json()
    body = complete(team_client, job_id, "failed").json()
    if mode == "consumption_tokens":
        tokens = call["metadata"]["tokens_used"]
        assert body["costs"]["credits_charged"] == -(-tokens // 10)
    else:
        assert body["costs"]["credits_charged"] >= 1
    assert account(team).credits_used == body["costs"]["credits_charged"]


def test_a_failed_job_without_successful_calls_costs_nothing(team_client, team, job_id):
    body = complete(team_client, job_id, "failed").json()
    assert body["costs"]["credits_charged"] == 0
    assert account(team).credits_remaining == 100


def test_a_job_completed_without_calls_costs_nothing(team_client, team, job_id):
    assert complete(team_client, job_id).json()["costs"]["credits_charged"] == 0
    assert (account(team).credits_used, account(team).credits_reserved) == (0, 0)


def test_a_call_on_a_completed_job_is_409(team_client, team, job_id, fake_provider):
    complete(team_client, job_id)
    before = (ledger_snapshot(team), fake_provider.request_count)
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "job_closed"
    assert (ledger_snapshot(team), fake_provider.request_count) == before


def test_a_call_on_a_failed_job_is_409(team_client, job_id):
    complete(team_client, job_id, "failed")
    assert llm_call(team_client, job_id).status_code == HTTPStatus.CONFLICT


def test_failing_a_completed_job_is_409(team_client, team, job_id):
    llm_call(team_client, job_id)
    complete(team_client, job_id)
    response = complete(team_client, job_id, "failed")
    assert response.status_code == HTTPStatus.CONFLICT
    assert account(team).credits_used == 1


def test_an_unknown_status_is_a_400(team_client, job_id):
    assert complete(team_client, job_id, "done").status_code == HTTPStatus.BAD_REQUEST


def test_completing_another_teams_job_is_404(other_team_client, job_id):
    assert complete(other_team_client, job_id).status_code == HTTPStatus.NOT_FOUND


def test_complete_keeps_the_given_metadata_and_error(team_client, job_id):
    team_client.post(
        f"/api/jobs/{job_id}/complete",
        {"status": "failed", "metadata": {"k": 1}, "error_message": "gave up"},
        format="json",
    )
    job = team_client.get(f"/api/jobs/{job_id}").json()
    assert job["metadata"] == {"k": 1}
    assert job["error_message"] == "gave up"
