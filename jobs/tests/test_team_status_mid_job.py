from __future__ import annotations

from http import HTTPStatus

import pytest

from jobs.tests.conftest import complete, ledger_snapshot, llm_call
from teams.models import TeamStatus


@pytest.mark.parametrize(
    ("status", "code"),
    [(TeamStatus.SUSPENDED, "team_suspended"), (TeamStatus.PAUSED, "team_paused")],
)
def test_a_team_stopped_mid_job_cannot_start_another_call(
    team_client, team, job_id, fake_provider, status, code
):
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
    team.status = status
    team.save()
    before = (ledger_snapshot(team), fake_provider.request_count)
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == code
    assert (ledger_snapshot(team), fake_provider.request_count) == before


def test_a_suspended_team_can_still_read_and_complete_its_job(
    team_client, team, job_id
):
    llm_call(team_client, job_id)
    team.status = TeamStatus.SUSPENDED
    team.save()
    assert team_client.get(f"/api/jobs/{job_id}").status_code == HTTPStatus.OK
    assert complete(team_client, job_id).status_code == HTTPStatus.OK
