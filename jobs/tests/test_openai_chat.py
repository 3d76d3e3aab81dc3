"""The OpenAI SDK against /v1/chat/completions (not streamed) and /v1/models."""

from __future__ import annotations

import asyncio
import json

import pydantic
import pytest

from credits.models import EntryType, LedgerEntry
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import account
from jobs.tests.openai_sdk import async_sdk, hello, sdk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class Verdict(pydantic.BaseModel):
    summary: str
    score: int


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def test_a_chat_completion_answers_in_openais_shape_under_the_alias(client):
    completion = client.chat.completions.create(**hello())
    call = LLMCall.objects.get()
    assert completion.id == f"chatcmpl-{call.call_id.hex}"
    assert completion.object == "chat.completion"
    assert completion.model == "chat"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Echo: hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == call.total_tokens > 0


def test_a_chat_completion_is_a_completed_one_call_job_billed_once(client, team):
    client.chat.completions.create(**hello(user="end-user-7"))
    job = Job.objects.get()
    assert job.status == JobStatus.COMPLETED
    assert job.user_id == "end-user-7"
    assert job.calls.get().status == CallStatus.SUCCEEDED
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)
    assert account(team).credits_used == 1
    assert account(team).credits_reserved == 0


def test_the_response_headers_name_the_job_the_call_and_the_credits(client, team):
    raw = client.chat.completions.with_raw_response.create(**hello())
    call = LLMCall.objects.select_related("job").get()
    assert raw.headers["X-Job-Id"] == str(call.job.job_id)
    assert raw.headers["X-Call-Id"] == str(call.call_id)
    assert raw.headers["X-Credits-Charged"] == "1"
    assert raw.headers["X-Credits-Remaining"] == str(account(team).credits_remaining)
    assert account(team).credits_remaining == 99
    assert float(raw.headers["X-Gateway-Overhead-Ms"]) >= 0
    assert raw.parse().choices[0].message.content == "Echo: hello world"


def test_the_request_parameters_reach_the_provider(client, fake_provider):
    client.chat.completions.create(
        **hello(temperature=0.2, max_tokens=50, stop=["END"], top_p=0.9, seed=7)
    )
    sent = fake_provider.state.requests[-1]["body"]
    assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.2, 50, ["END"])
    assert sent["top_p"] == 0.9
    assert sent["model"] == "fake-echo"
    assert sent["seed"] == 7


def test_tools_come_back_as_tool_calls_the_sdk_parses(client):
    completion = client.chat.completions.create(
        **hello(tools=[WEATHER_TOOL], tool_choice="auto")
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (tool_call,) = choice.message.tool_calls
    assert tool_call.type == "function"
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"input": "hello world"}


def test_a_tool_result_can_be_sent_back_in_the_next_request(client):
    first = client.chat.completions.create(**hello(tools=[WEATHER_TOOL]))
    assistant = first.choices[0].message
    messages = [
        {"role": "user", "content": "hello world"},
        assistant.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": assistant.tool_calls[0].id,
            "content": "sunny",
        },
    ]
    second = client.chat.completions.create(model="chat", messages=messages)
    assert second.choices[0].message.content == "Echo: hello world"


def test_a_json_schema_response_format_parses_into_the_model(client, fake_provider):
    completion = client.chat.completions.parse(**hello(response_format=Verdict))
    verdict = completion.choices[0].message.parsed
    assert verdict == Verdict(summary="hello world", score=0)
    sent = fake_provider.state.requests[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Verdict"


def test_the_async_client_gets_the_same_answer(server, team_key, chat_alias):
    async def ask() -> str:
        async with async_sdk(server, team_key) as client:
            completion = await client.chat.completions.create(**hello())
            return completion.choices[0].message.content

    assert asyncio.run(ask()) == "Echo: hello world"
    assert Job.objects.get().status == JobStatus.COMPLETED


def test_models_lists_only_the_aliases_the_team_may_use(client, make_alias):
    make_alias("not-for-them", grouped=False)
    models = client.models.list()
    assert [model.id for model in models] == ["chat"]
    assert models.data[0].owned_by == "saas-litellm"
    assert models.data[0].object == "model"


def test_a_model_is_retrieved_by_its_alias(client, make_alias):
    make_alias("not-for-them", grouped=False)
    assert client.models.retrieve("chat").id == "chat"
