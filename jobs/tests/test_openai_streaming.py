"""The official OpenAI SDK streaming from /v1/chat/completions (stream=True)."""

from __future__ import annotations

import asyncio

import openai
import pytest

from credits.models import CreditAccount, EntryType, LedgerEntry
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import account, ledger_snapshot
from jobs.tests.openai_sdk import async_sdk, hello, sdk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def test_a_stream_with_include_usage_ends_with_a_usage_chunk(client):
    chunks = list(
        client.chat.completions.create(
            **hello(stream=True, stream_options={"include_usage": True})
        )
    )
    *content, last = chunks
    text = "".join(chunk.choices[0].delta.content or "" for chunk in content)
    assert text == "Echo: hello world"
    assert last.choices == []
    call = LLMCall.objects.select_related("job").get()
    assert last.usage.total_tokens == call.total_tokens > 0
    remaining = CreditAccount.objects.get(team=call.team).credits_remaining
    assert last.usage.model_extra["credits"] == {"charged": 1, "remaining": remaining}
    assert {chunk.model for chunk in chunks} == {"chat"}
    assert {chunk.id for chunk in chunks} == {f"chatcmpl-{call.call_id.hex}"}
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}


def test_a_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(**hello(stream=True)))
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_streamed_request_is_a_completed_job_billed_once(client, team):
    list(client.chat.completions.create(**hello(stream=True)))
    job = Job.objects.get()
    assert job.status == JobStatus.COMPLETED
    assert job.calls.get().streamed
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)
    assert account(team).credits_used == 1


def test_a_streams_headers_name_the_job_and_the_call_but_no_credits(client):
    with client.chat.completions.with_streaming_response.create(
        **hello(stream=True)
    ) as response:
        headers = response.headers
        list(response.parse())
    call = LLMCall.objects.select_related("job").get()
    assert headers["X-Job-Id"] == str(call.job.job_id)
    assert headers["X-Call-Id"] == str(call.call_id)
    assert float(headers["X-Gateway-Overhead-Ms"]) >= 0
    assert headers["Content-Type"].startswith("text/event-stream")
    assert "X-Credits-Charged" not in headers
    assert "X-Credits-Remaining" not in headers


def test_a_stream_that_breaks_raises_the_sdks_api_error_and_costs_nothing(
    client, make_alias, team
):
    make_alias("breaking", "fake-break-stream")
    before = ledger_snapshot(team)
    stream = client.chat.completions.create(**hello(model="breaking", stream=True))
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert raised.value.message == "LLM call failed"
    assert raised.value.code == "provider_error"
    assert LLMCall.objects.get().status == CallStatus.FAILED
    assert Job.objects.get().status == JobStatus.FAILED
    assert ledger_snapshot(team) == before


def test_the_async_client_streams_with_usage(server, team_key, chat_alias):
    async def collect() -> list:
        async with async_sdk(server, team_key) as client:
            stream = await client.chat.completions.create(
                **hello(stream=True, stream_options={"include_usage": True})
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(collect())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello world"
    assert chunks[-1].usage.total_tokens == LLMCall.objects.get().total_tokens
