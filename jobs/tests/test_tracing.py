"""Tracing on (TRACING=true, spans written to standard output): a server process's
spans for one /v1 call, the request's and the pipeline's in one trace, and nothing
secret in any of them (saas_litellm/tracing.py)."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
import requests

from jobs.tests.conftest import call_body
from jobs.tests.processes import gunicorn_start, server_env, server_stop, server_wait

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PROMPT = "a prompt that stays out of every span"


def spans_in(log: str) -> list[dict]:
    """The JSON objects of the console exporter, among gunicorn's lines."""
    decoder, spans, at = json.JSONDecoder(), [], 0
    while (at := log.find('{\n    "name": ', at)) >= 0:
        span, end = decoder.raw_decode(log, at)
        spans.append(span)
        at = end
    return spans


def test_one_call_is_one_trace_of_request_pipeline_sql_and_provider_spans(
    tmp_path, team_key, chat_alias, fake_provider
):
    env = server_env(TRACING="true", TRACING_EXPORTER="console")
    server = gunicorn_start(env, tmp_path / "server.log")
    server_wait(server)
    body = call_body(messages=[{"role": "user", "content": PROMPT}])
    response = requests.post(
        f"{server.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {team_key}"},
        timeout=30,
    )
    assert response.status_code == HTTPStatus.OK
    server_stop(server)  # the exporter flushes at exit
    log = server.log.read_text()
    spans = spans_in(log)
    by_name = {span["name"]: span for span in spans}
    admit, provider, settle = (
        by_name[f"llm.{step}"] for step in ("admit", "provider", "settle")
    )
    assert admit["attributes"] == {"team.id": "acme-corp", "llm.alias": "chat"}
    assert provider["attributes"] == {"llm.alias": "chat"}
    request = next(
        span
        for span in spans
        if span["kind"] == "SpanKind.SERVER" and "chat/completions" in json.dumps(span)
    )
    trace_id = request["context"]["trace_id"]
    assert {
        admit["context"]["trace_id"],
        provider["context"]["trace_id"],
        settle["context"]["trace_id"],
    } == {trace_id}
    client_spans = [span for span in spans if span["kind"] == "SpanKind.CLIENT"]
    assert any(
        "db.statement" in str(span["attributes"])
        or span["attributes"].get("db.system") == "postgresql"
        for span in client_spans
    )
    assert any(
        span["parent_id"] == provider["context"]["span_id"] for span in client_spans
    )
    for secret in (team_key, PROMPT, "sk-fake-provider-secret"):
        assert secret not in log
