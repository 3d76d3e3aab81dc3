"""Embeddings within a job through the typed client, against the live server."""

from __future__ import annotations

import uuid

import pytest
from saas_litellm_client import (
    EmbeddingResult,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    ValidationError,
)

from jobs.fake_provider import embedding_answer
from teams.models import ModelAlias

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]


@pytest.fixture
def embed_alias(chat_alias) -> str:
    # litellm knows this model, and that it takes `dimensions`.
    ModelAlias.objects.filter(model_alias=chat_alias).update(
        actual_model="openai/text-embedding-3-small"
    )
    return chat_alias


async def test_embed_returns_one_vector_per_input(client_args, embed_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("index")
        result = await client.embed(job, embed_alias, ["one", "two"], dimensions=4)
        completion = await client.complete_job(job)
    assert isinstance(result, EmbeddingResult)
    assert uuid.UUID(result.call_id)
    expected = embedding_answer({"input": ["one", "two"], "dimensions": 4})
    assert result.embeddings == [item["embedding"] for item in expected["data"]]
    assert result.metadata.model == embed_alias
    assert completion.costs.total_calls == 1
    assert completion.costs.credits_charged == 1


def test_the_sync_client_embeds_too(client_args, embed_alias):
    with SaasLiteLLMSyncClient(**client_args) as client:
        job = client.create_job("index")
        result = client.embed(job, embed_alias, "a single text")
    assert len(result.embeddings) == 1
    assert result.metadata.prompt_tokens > 0


async def test_an_empty_input_is_a_validation_error(client_args, embed_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("index")
        with pytest.raises(ValidationError):
            await client.embed(job, embed_alias, [])
