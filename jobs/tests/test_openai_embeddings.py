"""The official OpenAI SDK against /v1/embeddings: a one-call job (or a call on the
job of X-Job-Id), billed for its input tokens, refused as chat is."""

from __future__ import annotations

import math
from decimal import Decimal

import openai
import pytest

from credits.models import EntryType, LedgerEntry
from jobs.fake_provider import embedding_answer
from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import account, ledger_snapshot
from jobs.tests.openai_sdk import sdk
from teams.models import BudgetMode, TeamStatus
from teams.services import team_status_set

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# litellm knows this model's price, and that it takes `dimensions`.
EMBEDDING_MODEL = "text-embedding-3-small"


@pytest.fixture
def embed_alias(make_alias, team, access_group):
    team.access_groups.add(access_group)
    return make_alias("embed", EMBEDDING_MODEL)


@pytest.fixture
def client(server, team_key, embed_alias):
    return sdk(server, team_key)


def expected_vectors(inputs, dimensions=None):
    body = {"input": inputs, "dimensions": dimensions}
    return [item["embedding"] for item in embedding_answer(body)["data"]]


def test_an_embedding_answers_in_openais_shape_under_the_alias(client, fake_provider):
    answer = client.embeddings.create(model="embed", input="hello world")
    assert answer.object == "list"
    assert answer.model == "embed"
    (item,) = answer.data
    assert (item.object, item.index) == ("embedding", 0)
    assert item.embedding == pytest.approx(expected_vectors("hello world")[0])
    assert fake_provider.state.requests[-1]["body"]["model"] == EMBEDDING_MODEL
    call = LLMCall.objects.get()
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == 3
    assert (call.prompt_tokens, call.completion_tokens, call.total_tokens) == (3, 0, 3)
    assert not call.usage_estimated


def test_a_list_of_strings_gets_one_vector_each_in_order(client):
    inputs = ["one", "two two", "three three three"]
    answer = client.embeddings.create(model="embed", input=inputs)
    assert [item.index for item in answer.data] == [0, 1, 2]
    expected = expected_vectors(inputs)
    for item, vector in zip(answer.data, expected, strict=True):
        assert item.embedding == pytest.approx(vector)
    assert LLMCall.objects.get().prompt_tokens == 1 + 2 + 5  # 4 chars a token


def test_token_arrays_are_embedded_and_counted(client):
    answer = client.embeddings.create(model="embed", input=[[1, 2, 3], [4, 5]])
    assert len(answer.data) == 2
    assert LLMCall.objects.get().prompt_tokens == 5


def test_dimensions_reach_the_provider(client, fake_provider):
    answer = client.embeddings.create(model="embed", input="hello", dimensions=3)
    assert len(answer.data[0].embedding) == 3
    assert fake_provider.state.requests[-1]["body"]["dimensions"] == 3


def test_float_and_base64_formats_carry_the_same_vector(client, fake_provider):
    floats = client.embeddings.create(
        model="embed", input="hi", encoding_format="float"
    )
    # Without encoding_format the SDK asks for base64 and decodes it.
    decoded = client.embeddings.create(model="embed", input="hi")
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding)
    assert "encoding_format" not in fake_provider.state.requests[-1]["body"]
    raw = client.embeddings.with_raw_response.create(
        model="embed", input="hi", encoding_format="base64"
    )
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)


def test_an_embedding_is_a_completed_one_call_job_billed_once(client, team):
    raw = client.embeddings.with_raw_response.create(
        model="embed", input="hello", user="end-user-3"
    )
    job = Job.objects.get()
    assert (job.status, job.job_type, job.user_id) == (
        JobStatus.COMPLETED,
        "embeddings",
        "end-user-3",
    )
    call = job.calls.get()
    assert call.status == CallStatus.SUCCEEDED
    assert call.model_alias == "embed"
    # litellm's price table: $0.02 per million input tokens.
    assert call.provider_cost_usd == Decimal(call.prompt_tokens) * Decimal("0.02") / (
        1_000_000
    )
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert (deduction.job_id, deduction.amount) == (job.job_id, -1)
    assert raw.headers["X-Job-Id"] == str(job.job_id)
    assert raw.headers["X-Call-Id"] == str(call.call_id)
    assert raw.headers["X-Credits-Charged"] == "1"
    assert raw.headers["X-Credits-Remaining"] == "99"
    assert account(team).credits_reserved == 0


def test_a_consumption_team_is_charged_for_the_input_tokens(client, team):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 2
    team.save()
    client.embeddings.create(model="embed", input=["a" * 20, "b" * 20])  # 5 + 5
    deduction = LedgerEntry.objects.get(entry_type=EntryType.DEDUCTION)
    assert deduction.amount == -math.ceil(10 / 2)
    assert account(team).credits_used == 5
    assert account(team).credits_reserved == 0


def test_an_answer_without_usage_is_billed_on_an_estimate(client, make_alias):
    make_alias("embed-bare", "fake-no-usage")
    answer = client.embeddings.create(model="embed-bare", input="hello world")
    call = LLMCall.objects.get()
    assert call.usage_estimated
    assert call.prompt_tokens == answer.usage.prompt_tokens == 3
    assert call.completion_tokens == 0


@pytest.mark.parametrize(
    "refusal",
    ["forbidden alias", "suspended team"],
)
def test_a_refused_embedding_writes_nothing(client, team, make_alias, refusal):
    model = "embed"
    if refusal == "forbidden alias":
        model = make_alias("not-ours", EMBEDDING_MODEL, grouped=False).model_alias
    else:
        team_status_set(team=team, status=TeamStatus.SUSPENDED, actor="tests")
    before = ledger_snapshot(team)
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model=model, input="hello")
    assert ledger_snapshot(team) == before
    assert (Job.objects.count(), LLMCall.objects.count()) == (0, 0)


def test_bad_input_is_a_400_naming_the_param(client):
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="embed", input=["ok", ""])
    assert refused.value.param == "input"
    assert Job.objects.count() == 0


def test_a_provider_failure_is_a_recorded_502_without_a_charge(client, make_alias):
    make_alias("embed-down", "fake-fail-500")
    with pytest.raises(openai.InternalServerError) as failed:
        client.embeddings.create(model="embed-down", input="hello")
    assert failed.value.status_code == 502
    assert "fake-fail-500" not in failed.value.response.text
    assert LLMCall.objects.get().status == CallStatus.FAILED
    assert Job.objects.get().status == JobStatus.FAILED
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()


def test_a_failing_route_falls_back_to_the_next(
    client, make_alias, fake_provider, settings
):
    settings.ROUTER_RETRIES = 0  # our own retries aside
    make_alias("embed-flaky", "fake-fail-429", fallbacks=["embed"])
    before = fake_provider.request_count
    answer = client.embeddings.create(model="embed-flaky", input="hello")
    assert answer.model == "embed-flaky"
    assert LLMCall.objects.get().model_used == f"openai/{EMBEDDING_MODEL}"
    assert fake_provider.request_count == before + 2  # litellm retried nothing


def test_x_job_id_attaches_the_embedding_to_that_open_job(
    server, team_key, embed_alias, job_id, team
):
    client = sdk(server, team_key, default_headers={"X-Job-Id": job_id})
    raw = client.embeddings.with_raw_response.create(model="embed", input="hi")
    assert raw.headers["X-Job-Id"] == job_id
    assert raw.headers["X-Credits-Charged"] == "0"
    job = Job.objects.get()
    assert job.status == JobStatus.IN_PROGRESS
    assert job.calls.get().status == CallStatus.SUCCEEDED
    assert not LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).exists()


def test_an_offline_alias_answers_zero_vectors_one_per_input(client, make_alias):
    make_alias("embed-offline", mock_response="ok")
    answer = client.embeddings.create(
        model="embed-offline", input=["a", "b"], dimensions=4
    )
    assert [item.embedding for item in answer.data] == [[0.0] * 4] * 2
    assert LLMCall.objects.get().usage_estimated
