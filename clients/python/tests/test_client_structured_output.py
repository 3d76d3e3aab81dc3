"""Structured output: a pydantic model in, a validated instance out (live server)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from saas_litellm_client import SaasLiteLLMClient, StructuredOutputError

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

ASK = [{"role": "user", "content": "ACME Corp"}]


class Invoice(BaseModel):
    customer: str
    total: int
    paid: bool


async def test_structured_output_returns_a_validated_instance(client_args, chat_alias):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("extraction")
        invoice = await client.structured_output(
            job.job_id, chat_alias, ASK, response_model=Invoice
        )
    # The fake provider fills the schema's fields: strings echo the question.
    assert invoice == Invoice(customer="ACME Corp", total=0, paid=False)


async def test_the_model_schema_is_sent_as_a_strict_json_schema(
    client_args, chat_alias, fake_provider
):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("extraction")
        await client.structured_output(
            job.job_id, chat_alias, ASK, response_model=Invoice, purpose="extract"
        )
    sent = fake_provider.state.requests[-1]["body"]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Invoice"
    assert sent["json_schema"]["schema"] == Invoice.model_json_schema()
    assert sent["json_schema"]["strict"] is True


async def test_an_answer_that_does_not_validate_is_a_typed_error(
    client_args, model_aliases
):
    async with SaasLiteLLMClient(**client_args) as client:
        job = await client.create_job("extraction")
        with pytest.raises(StructuredOutputError) as caught:
            await client.structured_output(
                job.job_id, model_aliases["not_json"], ASK, response_model=Invoice
            )
    assert caught.value.content == "Sorry, no JSON today."
    assert caught.value.call_id
    assert caught.value.validation_error is not None
