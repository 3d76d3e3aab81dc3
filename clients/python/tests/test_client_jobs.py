"""Jobs and credits through the typed client, against the live server."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from saas_litellm_client import (
    Balance,
    Job,
    JobCompletion,
    JobDetails,
    SaasLiteLLMClient,
)

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

HELLO = [{"role": "user", "content": "hello"}]


async def test_the_guides_example_creates_a_job(client_args, capsys):
    async with SaasLiteLLMClient(**client_args) as client:
        # Authentication is handled automatically
        job = await client.create_job("document_analysis")
        print(f"Created job: {job.job_id}")  # noqa: T201 - the guide's line
    assert capsys.readouterr().out == f"Created job: {job.job_id}\n"
    assert isinstance(job, Job)
    assert uuid.UUID(job.job_id)
    assert job.status == "pending"
    assert isinstance(job.created_at, datetime)


async def test_get_job_returns_what_was_created(client_args):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job(
            "document_analysis", user_id="user-7", metadata={"doc": "a.pdf"}
        )
        details = await client.get_job(job)
    assert isinstance(details, JobDetails)
    assert details.job_id == job.job_id
    assert details.job_type == "document_analysis"
    assert details.user_id == "user-7"
    assert details.metadata == {"doc": "a.pdf"}
    assert details.team_id == "acme-corp"


async def test_completing_a_job_returns_its_costs_and_calls(client_args, chat_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("summary")
        result = await client.chat(job.job_id, chat_alias, HELLO, purpose="greet")
        completion = await client.complete_job(job.job_id)
    assert isinstance(completion, JobCompletion)
    assert completion.status == "completed"
    assert completion.costs.total_calls == 1
    assert completion.costs.successful_calls == 1
    assert completion.costs.credits_charged == 1
    assert completion.costs.credits_remaining == 99
    assert [call.call_id for call in completion.calls] == [result.call_id]
    assert completion.calls[0].purpose == "greet"


async def test_completing_twice_returns_the_same_result(client_args, chat_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("summary")
        await client.chat(job.job_id, chat_alias, [{"role": "user", "content": "hi"}])
        first = await client.complete_job(job.job_id)
        second = await client.complete_job(job.job_id)
        balance = await client.get_balance()
    assert second == first
    assert balance.credits_used == 1


async def test_a_failed_job_is_not_charged(client_args):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("summary")
        completion = await client.complete_job(
            job.job_id, "failed", error_message="input was empty"
        )
        details = await client.get_job(job.job_id)
    assert completion.status == "failed"
    assert completion.costs.credits_charged == 0
    assert details.error_message == "input was empty"


async def test_get_balance_shows_credits_reserved_by_an_open_job(client_args):
    async with SaasLiteLLMClient(**client_args) as client:
        before = await client.get_balance()
        await client.create_job("summary")
        after = await client.get_balance()
    assert isinstance(before, Balance)
    assert before.team_id == "acme-corp"
    assert (before.credits_allocated, before.credits_remaining) == (100, 100)
    assert after.credits_reserved == 1
    assert after.credits_remaining == 99
