"""The blocking client does the same work as the async one (live server)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from saas_litellm_client import (
    JobClosedError,
    NotFoundError,
    SaasLiteLLMSyncClient,
    StreamChunk,
    StreamUsage,
)

# PostgreSQL only: see test_client_jobs.py.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HELLO = [{"role": "user", "content": "hello"}]


class Greeting(BaseModel):
    text: str


def test_a_script_runs_a_whole_job(asgi_client_args, chat_alias):
    with SaasLiteLLMSyncClient(**asgi_client_args) as client:
        job = client.create_job("document_analysis")
        answer = client.chat(job.job_id, chat_alias, HELLO)
        with client.chat_stream(job.job_id, chat_alias, HELLO) as stream:
            events = list(stream)
        greeting = client.structured_output(
            job.job_id, chat_alias, HELLO, response_model=Greeting
        )
        completion = client.complete_job(job.job_id)
        details = client.get_job(job.job_id)
        balance = client.get_balance()
    assert answer.content == "Echo: hello"
    assert isinstance(events[0], StreamChunk)
    assert isinstance(events[-1], StreamUsage)
    assert stream.content == "Echo: hello"
    assert greeting == Greeting(text="hello")
    assert completion.costs.total_calls == 3
    assert details.status == "completed"
    assert balance.credits_used == 1


def test_the_sync_client_raises_the_same_typed_errors(client_args, chat_alias):
    with SaasLiteLLMSyncClient(**client_args) as client:
        job = client.create_job("test")
        client.complete_job(job)
        with pytest.raises(JobClosedError):
            client.chat(job, chat_alias, HELLO)
        with pytest.raises(NotFoundError):
            client.get_job("00000000-0000-0000-0000-000000000000")
