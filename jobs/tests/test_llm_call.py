from __future__ import annotations

import json
from http import HTTPStatus

from jobs.models import CallStatus, Job, JobStatus, LLMCall
from jobs.tests.conftest import llm_call


def test_a_call_answers_with_the_providers_text_under_the_alias(
    team_client, job_id, fake_provider
):
    response = llm_call(team_client, job_id)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["response"] == {"content": "Echo: hello world", "finish_reason": "stop"}
    assert body["metadata"]["model"] == "chat"
    assert body["metadata"]["tokens_used"] == (
        body["metadata"]["prompt_tokens"] + body["metadata"]["completion_tokens"]
    )


def test_a_call_is_recorded_with_the_real_model_and_usage(team_client, job_id):
    call_id = llm_call(team_client, job_id).json()["call_id"]
    call = LLMCall.objects.get(call_id=call_id)
    assert call.status == CallStatus.SUCCEEDED
    assert call.model_used == "openai/fake-echo"
    assert call.total_tokens > 0


def test_the_provider_gets_the_decrypted_credential(team_client, job_id, fake_provider):
    llm_call(team_client, job_id)
    sent = fake_provider.state.requests[-1]["headers"]
    assert sent["authorization"] == "Bearer sk-fake-provider-secret"


def test_tools_come_back_as_tool_calls(team_client, job_id):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    body = llm_call(team_client, job_id, tools=tools).json()
    assert body["response"]["finish_reason"] == "tool_calls"
    assert body["response"]["tool_calls"][0]["function"]["name"] == "lookup"


def test_a_json_schema_response_format_gets_json_content(team_client, job_id):
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}}
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema},
    }
    body = llm_call(team_client, job_id, response_format=response_format).json()
    assert json.loads(body["response"]["content"]) == {"summary": "hello world"}


def test_sampling_parameters_reach_the_provider(team_client, job_id, fake_provider):
    llm_call(team_client, job_id, temperature=0.2, top_p=0.5, stop=["\n"], max_tokens=7)
    sent = fake_provider.state.requests[-1]["body"]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.2, 0.5, 7)
    assert sent["stop"] == ["\n"]


def test_the_first_call_moves_the_job_in_progress(team_client, job_id):
    llm_call(team_client, job_id)
    assert Job.objects.get(job_id=job_id).status == JobStatus.IN_PROGRESS
