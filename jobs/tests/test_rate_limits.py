from __future__ import annotations

from http import HTTPStatus

from jobs.ratelimit import rate_limit_acquire, rate_limit_release
from jobs.tests.conftest import llm_call


def test_requests_over_the_per_minute_limit_get_429_with_retry_after(
    team_client, team, job_id, fake_provider, whole_window
):
    team.requests_per_minute = 2
    team.save()
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
    before = fake_provider.request_count
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert fake_provider.request_count == before


def test_tokens_over_the_per_minute_limit_get_429(
    team_client, team, job_id, whole_window
):
    team.tokens_per_minute = 1
    team.save()
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Retry-After" in response


def test_calls_beyond_the_parallel_limit_get_429(team_client, team, job_id):
    team.max_parallel_requests = 1
    team.save()
    running = rate_limit_acquire(team=team)  # a call already in flight
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response["Retry-After"] == "1"
    rate_limit_release(slot=running)
    assert llm_call(team_client, job_id).status_code == HTTPStatus.OK


def test_a_finished_call_gives_its_parallel_slot_back(team_client, team, job_id):
    team.max_parallel_requests = 1
    team.save()
    for _ in range(3):
        assert llm_call(team_client, job_id).status_code == HTTPStatus.OK


def test_a_team_without_limits_is_not_limited(team_client, job_id):
    for _ in range(5):
        assert llm_call(team_client, job_id).status_code == HTTPStatus.OK


def test_limits_are_per_team(
    team_client, other_team_client, team, other_team, job_id, whole_window
):
    team.requests_per_minute = 1
    team.save()
    llm_call(team_client, job_id)
    assert llm_call(team_client, job_id).status_code == HTTPStatus.TOO_MANY_REQUESTS
    other_team.access_groups.set(team.access_groups.all())
    other_job = other_team_client.post(
        "/api/jobs/create", {"team_id": "globex", "job_type": "t"}, format="json"
    ).json()["job_id"]
    assert llm_call(other_team_client, other_job).status_code == HTTPStatus.OK
