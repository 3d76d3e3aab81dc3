from __future__ import annotations

from http import HTTPStatus

from jobs.models import Job, JobStatus
from jobs.tests.conftest import account, call_body, ledger_snapshot, sse_events

ONE_SHOT = {"team_id": "acme-corp", "job_type": "one_shot"}

# Every test here runs on both implementations of one-call jobs.


def test_create_and_call_runs_a_whole_job_in_one_request(team_client, team, chat_alias):
    response = team_client.post(
        "/api/jobs/create-and-call", {**ONE_SHOT, **call_body()}, format="json"
    )
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["response"]["content"] == "Echo: hello world"
    assert body["status"] == "completed"
    assert body["costs"] == {"credits_charged": 1, "credits_remaining": 99}
    assert Job.objects.get(job_id=body["job_id"]).status == JobStatus.COMPLETED
    assert account(team).credits_reserved == 0


def test_a_failed_one_shot_call_fails_the_job_and_costs_nothing(
    team_client, team, make_alias, access_group
):
    team.access_groups.add(access_group)
    make_alias("down", "fake-fail-500")
    before = ledger_snapshot(team)[:3]
    response = team_client.post(
        "/api/jobs/create-and-call",
        {**ONE_SHOT, **call_body(model="down")},
        format="json",
    )
    assert response.status_code == HTTPStatus.BAD_GATEWAY
    assert Job.objects.get().status == JobStatus.FAILED
    assert ledger_snapshot(team)[:3] == before


def test_create_and_call_with_a_forbidden_model_creates_no_job(team_client, chat_alias):
    response = team_client.post(
        "/api/jobs/create-and-call", {**ONE_SHOT, **call_body(model="x")}, format="json"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Job.objects.exists()


def test_create_and_call_for_another_team_is_403(team_client, chat_alias, other_team):
    body = {**ONE_SHOT, "team_id": "globex", **call_body()}
    response = team_client.post("/api/jobs/create-and-call", body, format="json")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Job.objects.exists()


def test_create_and_call_stream_streams_and_completes_the_job(
    stream_post, team, chat_alias
):
    response = stream_post(
        "/api/jobs/create-and-call-stream", {**ONE_SHOT, **call_body()}
    )
    assert response.status_code == HTTPStatus.OK
    events = sse_events(response.raw)
    assert events[-1] == "[DONE]"
    job = Job.objects.get(job_id=events[-2]["job_id"])
    assert job.status == JobStatus.COMPLETED
    assert job.credits_charged == 1


def test_a_broken_one_shot_stream_fails_the_job(
    stream_post, team, make_alias, access_group
):
    team.access_groups.add(access_group)
    make_alias("broken", "fake-break-stream")
    response = stream_post(
        "/api/jobs/create-and-call-stream", {**ONE_SHOT, **call_body(model="broken")}
    )
    assert sse_events(response.raw)[-2]["error"]["type"] == "provider_error"
    assert Job.objects.get().status == JobStatus.FAILED
    assert account(team).credits_used == 0
