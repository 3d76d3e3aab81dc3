"""The official OpenAI SDK against /v1/completions (legacy text completions),
streamed and not: the chat path underneath, OpenAI's `text_completion` shapes."""

from __future__ import annotations

import openai
import pytest

from credits.models import EntryType, LedgerEntry
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import account, ledger_snapshot
from jobs.tests.openai_sdk import sdk
from teams.models import TeamStatus
from teams.services import team_status_set

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def complete_text(client, **overrides):
    return client.completions.create(
        **{"model": "chat", "prompt": "hello world", **overrides}
    )


def test_a_completion_answers_in_openais_shape_under_the_alias(client):
    answer = complete_text(client)
    call = LLMCall.objects.get()
    assert answer.id == f"cmpl-{call.call_id.hex}"
    assert (answer.object, answer.model) == ("text_completion", "chat")
    (choice,) = answer.choices
    assert (choice.text, choice.index, choice.finish_reason) == (
        "Echo: hello world",
        0,
        "stop",
    )
    assert answer.usage.total_tokens == call.total_tokens > 0
    assert answer.usage.prompt_tokens == call.prompt_tokens


def test_the_prompt_reaches_the_provider_as_one_user_message(client, fake_provider):
    complete_text(client, prompt=["say it"], temperature=0.5, stop=["END"])
    sent = fake_provider.state.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "say it"}]
    assert (sent["temperature"], sent["stop"], sent["model"]) == (
        0.5,
        ["END"],
        "fake-echo",
    )
    assert sent["max_tokens"] == 16  # OpenAI's default for this endpoint


def test_a_completion_is_a_completed_one_call_job_billed_once(client, team):
    raw = client.completions.with_raw_response.create(
        model="chat", prompt="hello", user="end-user-9"
    )
    job = Job.objects.get()
    assert (job.status, job.job_type, job.user_id) == (
        JobStatus.COMPLETED,
        "completions",
        "end-user-9",
    )
    assert job.calls.get().status == CallStatus.SUCCEEDED
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)
    assert raw.headers["X-Job-Id"] == str(job.job_id)
    assert raw.headers["X-Call-Id"] == str(job.calls.get().call_id)
    assert (raw.headers["X-Credits-Charged"], raw.headers["X-Credits-Remaining"]) == (
        "1",
        "99",
    )
    assert account(team).credits_reserved == 0


def test_a_stream_is_text_completion_chunks_then_usage(client, team):
    chunks = list(
        complete_text(client, stream=True, stream_options={"include_usage": True})
    )
    *content, last = chunks
    assert {chunk.object for chunk in chunks} == {"text_completion"}
    assert {chunk.model for chunk in chunks} == {"chat"}
    assert "".join(chunk.choices[0].text for chunk in content) == "Echo: hello world"
    assert content[-1].choices[0].finish_reason == "stop"
    call = LLMCall.objects.get()
    assert (last.choices, last.usage.total_tokens) == ([], call.total_tokens)
    assert call.streamed
    assert chunks[0].id == f"cmpl-{call.call_id.hex}"
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert deduction.amount == -1
    assert account(team).credits_reserved == 0


def test_a_stream_without_include_usage_has_no_usage_chunk(client):
    chunks = list(complete_text(client, stream=True))
    assert all(chunk.choices for chunk in chunks)
    assert LLMCall.objects.get().status == CallStatus.SUCCEEDED


def test_the_raw_stream_ends_with_done(server, team_key, chat_alias):
    raw = sdk(server, team_key).completions.with_raw_response.create(
        model="chat", prompt="hi", stream=True
    )
    assert raw.http_response.read().decode().endswith("data: [DONE]\n\n")


def test_an_answer_without_usage_is_billed_on_an_estimate(client, make_alias):
    make_alias("bare", "fake-no-usage")
    complete_text(client, model="bare")
    call = LLMCall.objects.get()
    assert call.usage_estimated
    assert call.prompt_tokens > 0


@pytest.mark.parametrize("refusal", ["forbidden alias", "suspended team"])
def test_a_refused_completion_writes_nothing(client, team, make_alias, refusal):
    model = "chat"
    if refusal == "forbidden alias":
        model = make_alias("not-ours", grouped=False).model_alias
    else:
        team_status_set(team=team, status=TeamStatus.SUSPENDED, actor="tests")
    before = ledger_snapshot(team)
    with pytest.raises(openai.PermissionDeniedError):
        complete_text(client, model=model)
    assert ledger_snapshot(team) == before
    assert (Job.objects.count(), LLMCall.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2), ("best_of", 3), ("echo", True), ("suffix", "!"), ("logprobs", 2)],
)
def test_what_a_chat_model_cannot_do_is_a_400_naming_it(client, field, value):
    with pytest.raises(openai.BadRequestError) as refused:
        complete_text(client, **{field: value})
    assert refused.value.param == field
    assert Job.objects.count() == 0


def test_a_prompt_of_several_strings_is_refused(client):
    with pytest.raises(openai.BadRequestError) as refused:
        complete_text(client, prompt=["one", "two"])
    assert refused.value.param == "prompt"


def test_x_job_id_attaches_the_completion_to_that_open_job(
    server, team_key, chat_alias, job_id
):
    client = sdk(server, team_key, default_headers={"X-Job-Id": job_id})
    raw = client.completions.with_raw_response.create(model="chat", prompt="hi")
    list(complete_text(client, stream=True))
    assert raw.headers["X-Credits-Charged"] == "0"
    job = Job.objects.get()
    assert str(job.job_id) == job_id
    assert job.status == JobStatus.IN_PROGRESS
    assert job.calls.count() == 2
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()


def test_a_route_through_litellm_answers_the_same_way(client, make_alias):
    make_alias("offline", mock_response="An offline answer")  # not the fast path
    answer = complete_text(client, model="offline")
    assert (answer.model, answer.choices[0].text) == ("offline", "An offline answer")
    assert LLMCall.objects.get().status == CallStatus.SUCCEEDED
