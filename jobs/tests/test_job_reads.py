from __future__ import annotations

from http import HTTPStatus

from jobs.tests.conftest import complete, llm_call


def test_a_team_reads_its_job_with_its_calls(team_client, job_id):
    llm_call(team_client, job_id, purpose="first")
    body = team_client.get(f"/api/jobs/{job_id}").json()
    assert body["job_id"] == job_id
    assert body["status"] == "in_progress"
    assert body["job_type"] == "test"
    assert body["calls"][0]["purpose"] == "first"
    assert "model_used" not in body["calls"][0]


def test_another_teams_job_is_404_everywhere(other_team_client, job_id):
    for suffix in ("", "/costs"):
        response = other_team_client.get(f"/api/jobs/{job_id}{suffix}")
        assert response.status_code == HTTPStatus.NOT_FOUND
    response = other_team_client.patch(
        f"/api/jobs/{job_id}/metadata", {"metadata": {"a": 1}}, format="json"
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_a_malformed_job_id_is_a_json_404(team_client):
    response = team_client.get("/api/jobs/not-a-uuid")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["detail"] == "Job not found"


def test_metadata_is_merged(team_client, job_id):
    url = f"/api/jobs/{job_id}/metadata"
    team_client.patch(url, {"metadata": {"a": 1}}, format="json")
    response = team_client.patch(url, {"metadata": {"b": 2}}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"job_id": job_id, "metadata": {"a": 1, "b": 2}}


def test_metadata_must_be_an_object(team_client, job_id):
    response = team_client.patch(
        f"/api/jobs/{job_id}/metadata", {"metadata": "x"}, format="json"
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_costs_of_an_open_job_show_nothing_charged_yet(team_client, job_id):
    llm_call(team_client, job_id)
    body = team_client.get(f"/api/jobs/{job_id}/costs").json()
    assert body["costs"]["successful_calls"] == 1
    assert body["costs"]["credits_charged"] == 0
    assert "cost_usd" not in str(body)


def test_costs_of_a_completed_job_match_its_completion(team_client, job_id):
    llm_call(team_client, job_id)
    completed = complete(team_client, job_id).json()
    body = team_client.get(f"/api/jobs/{job_id}/costs").json()
    assert body["costs"] == completed["costs"]
