from __future__ import annotations

from http import HTTPStatus

from jobs.tests.conftest import call_body

HUGE = "x" * (3 * 1024 * 1024)


def test_an_oversized_call_body_is_413_json(team_client, job_id, fake_provider):
    before = fake_provider.request_count
    body = call_body(messages=[{"role": "user", "content": HUGE}])
    response = team_client.post(f"/api/jobs/{job_id}/llm-call", body, format="json")
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["detail"] == "Request body too large"
    assert fake_provider.request_count == before


def test_an_oversized_job_body_is_refused_without_a_500(team_client, team):
    body = {"team_id": "acme-corp", "job_type": "t", "metadata": {"x": HUGE}}
    response = team_client.post("/api/jobs/create", body, format="json")
    assert HTTPStatus.BAD_REQUEST <= response.status_code < 500
