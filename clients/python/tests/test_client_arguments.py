"""What the client checks and sends before any server is involved."""

from __future__ import annotations

import uuid

import httpx
import pytest
from saas_litellm_client import (
    Job,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    UnexpectedResponseError,
)

pytestmark = pytest.mark.anyio

KEY = "sk-" + "a" * 32
JOB_ID = uuid.uuid4()


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            200,
            json={
                "job_id": str(JOB_ID),
                "status": "pending",
                "created_at": "2026-01-01T00:00:00Z",
            },
        )


def sync_client(
    recorder: Recorder, base_url: str = "http://server"
) -> SaasLiteLLMSyncClient:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    return SaasLiteLLMSyncClient(base_url, "acme-corp", KEY, http_client=http)


@pytest.mark.parametrize("job_id", ["../teams/acme-corp", "not-a-uuid", ""])
def test_a_job_id_that_is_not_a_uuid_is_refused_before_sending(job_id):
    recorder = Recorder()
    with pytest.raises(ValueError, match="UUID"):
        sync_client(recorder).get_job(job_id)
    assert recorder.requests == []


def test_a_job_can_be_named_by_its_id_its_uuid_or_itself():
    recorder = Recorder()
    client = sync_client(recorder)
    job = Job(job_id=str(JOB_ID), status="pending", created_at="2026-01-01T00:00:00Z")
    for reference in (str(JOB_ID), JOB_ID, job, str(JOB_ID).upper()):
        client.get_job(reference)
    paths = {request.url.path for request in recorder.requests}
    assert paths == {f"/api/jobs/{JOB_ID}"}


@pytest.mark.parametrize(
    "base_url", ["http://server", "http://server/", "http://server/api"]
)
def test_the_base_url_may_be_the_root_or_the_api_url(base_url):
    recorder = Recorder()
    sync_client(recorder, base_url).get_job(JOB_ID)
    assert str(recorder.requests[0].url) == f"http://server/api/jobs/{JOB_ID}"


def test_create_job_sends_the_constructors_team_id():
    recorder = Recorder()
    sync_client(recorder).create_job("document_analysis", metadata={"a": 1})
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/api/jobs/create"
    assert request.read() == (
        b'{"team_id":"acme-corp","job_type":"document_analysis","metadata":{"a":1}}'
    )


def test_the_balance_is_asked_for_the_constructors_team():
    recorder = Recorder()
    # The recorder answers with a job, which is not a balance.
    with pytest.raises(UnexpectedResponseError, match="Balance"):
        sync_client(recorder).get_balance()
    assert recorder.requests[0].url.params["team_id"] == "acme-corp"


async def test_the_key_goes_in_the_bearer_header_and_never_in_repr():
    recorder = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    async with SaasLiteLLMClient(
        "http://server", "acme-corp", KEY, http_client=http
    ) as client:
        await client.get_job(JOB_ID)
    assert recorder.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(client)
    assert repr(client) == (
        "SaasLiteLLMClient(base_url='http://server', team_id='acme-corp')"
    )


@pytest.mark.parametrize(
    "arguments",
    [("", "acme-corp", KEY), ("http://server", "", KEY), ("http://server", "t", "")],
)
def test_missing_settings_are_refused(arguments):
    with pytest.raises(ValueError, match="required"):
        SaasLiteLLMSyncClient(*arguments)
