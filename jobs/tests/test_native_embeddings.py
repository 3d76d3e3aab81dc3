"""`POST /api/jobs/{job_id}/embeddings`: an embedding on an open job, so that one
job groups chat calls and embeddings and is billed for all of them once."""

from __future__ import annotations

import math
from http import HTTPStatus

import pytest

from credits.models import EntryType, LedgerEntry
from jobs.fake_provider import embedding_answer
from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import complete, llm_call
from teams.models import BudgetMode

# litellm knows this model, and that it takes `dimensions`.
EMBEDDING_MODEL = "text-embedding-3-small"


@pytest.fixture
def embed_alias(make_alias, team, access_group):
    team.access_groups.add(access_group)
    return make_alias("embed", EMBEDDING_MODEL)


def embed(client, job_id, **body):
    return client.post(
        f"/api/jobs/{job_id}/embeddings",
        {"model": "embed", "input": ["one", "two words"], **body},
        format="json",
    )


def test_an_embedding_on_a_job_answers_the_vectors_under_the_alias(
    team_client, job_id, embed_alias, fake_provider
):
    response = embed(team_client, job_id, purpose="index", dimensions=4)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    expected = embedding_answer(
        {"input": ["one", "two words"], "dimensions": 4, "model": EMBEDDING_MODEL}
    )
    assert body["embeddings"] == [item["embedding"] for item in expected["data"]]
    assert body["metadata"]["model"] == "embed"
    call = LLMCall.objects.get()
    assert str(call.call_id) == body["call_id"]
    assert (call.status, call.purpose) == (CallStatus.SUCCEEDED, "index")
    assert body["metadata"]["prompt_tokens"] == call.prompt_tokens > 0


def test_a_job_of_chat_calls_and_embeddings_is_billed_once_for_all(
    team_client, team, job_id, chat_alias, embed_alias, fake_provider
):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 10
    team.save()
    assert llm_call(team_client, job_id, max_tokens=20).status_code == HTTPStatus.OK
    assert embed(team_client, job_id).status_code == HTTPStatus.OK
    assert complete(team_client, job_id).status_code == HTTPStatus.OK
    tokens = sum(call.total_tokens for call in LLMCall.objects.all())
    (deduction,) = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert -deduction.amount == math.ceil(tokens / 10)
    assert LLMCall.objects.count() == 2


def test_bad_input_is_a_native_400(team_client, job_id, embed_alias):
    response = embed(team_client, job_id, input=[])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "invalid_request"
    assert not LLMCall.objects.exists()


def test_a_closed_job_takes_no_embedding(team_client, job_id, embed_alias):
    complete(team_client, job_id, status="failed")
    response = embed(team_client, job_id)
    assert response.status_code == HTTPStatus.CONFLICT
    assert not LLMCall.objects.exists()
