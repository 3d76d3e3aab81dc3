"""Tools and message parts every provider would refuse are refused before one is
asked: a 400 naming the field, nothing reserved or recorded. What OpenAI documents
still passes, to the provider (fake-strict, which refuses as OpenAI does)."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from jobs.models import LLMCall
from jobs.tests.conftest import ledger_snapshot

HELLO = [{"role": "user", "content": "hi"}]
LOOKUP = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}


def tool(**function):
    return {"type": "function", "function": function}


def asking(*parts):
    return [{"role": "user", "content": list(parts)}]


INVALID = {
    "a tool that is not an object": {"tools": ["lookup"]},
    "a tool that is not a function": {"tools": [{"type": "code_interpreter"}]},
    "a tool without a type": {"tools": [{"function": LOOKUP}]},
    "a tool without a function": {"tools": [{"type": "function"}]},
    "a tool without a name": {"tools": [tool(parameters={})]},
    "a tool named with a space": {"tools": [tool(name="look up")]},
    "a tool named too long": {"tools": [tool(name="x" * 65)]},
    "a tool whose parameters are text": {
        "tools": [tool(name="lookup", parameters="q: string")]
    },
    "a tool described by a number": {"tools": [tool(name="lookup", description=3)]},
    "an unknown role": {"messages": [{"role": "wizard", "content": "hi"}]},
    "a part of unknown type": {"messages": asking({"type": "video", "video": {}})},
    "a part without a type": {"messages": asking({"text": "hi"})},
    "a part that is text": {"messages": asking("hi")},
    "a text part without text": {"messages": asking({"type": "text"})},
    "an image part without a url": {
        "messages": asking({"type": "image_url", "image_url": {"detail": "low"}})
    },
    "an audio part without audio": {"messages": asking({"type": "input_audio"})},
}
VALID = {
    "a tool with only a name": {"tools": [tool(name="ping")]},
    "a strict tool with a description": {
        "tools": [tool(**LOOKUP, description="Look it up", strict=True)]
    },
    "parts of every kind": {
        "messages": asking(
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iV="}},
            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-abc"}},
        )
    },
    "a tool round trip": {
        "messages": [
            {"role": "developer", "content": "Use the tools."},
            *HELLO,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
            {
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "No more."}],
            },
        ]
    },
}


@pytest.fixture
def strict_alias(make_alias, team, access_group):
    team.access_groups.add(access_group)
    return make_alias("strict", "fake-strict")


@pytest.fixture
def post(team_key, strict_alias):
    def send(path, fields):
        body = {"model": "strict", "messages": HELLO, **fields}
        return Client().post(
            path,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {team_key}"},
        )

    return send


@pytest.mark.parametrize("invalid", sorted(INVALID))
def test_an_invalid_tool_or_message_is_a_400_before_the_provider(
    post, job_id, team, fake_provider, invalid
):
    before = (ledger_snapshot(team), fake_provider.request_count)
    response = post(f"/api/jobs/{job_id}/llm-call", INVALID[invalid])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == set(INVALID[invalid])
    assert (ledger_snapshot(team), fake_provider.request_count) == before
    assert not LLMCall.objects.exists()


@pytest.mark.parametrize("invalid", sorted(INVALID))
def test_v1_names_the_field_at_fault(post, fake_provider, invalid):
    before = fake_provider.request_count
    response = post("/v1/chat/completions", INVALID[invalid])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (*INVALID[invalid], "invalid_request")
    assert fake_provider.request_count == before


@pytest.mark.parametrize("valid", sorted(VALID))
def test_every_openai_shape_passes(post, job_id, valid):
    response = post(f"/api/jobs/{job_id}/llm-call", VALID[valid])
    assert response.status_code == HTTPStatus.OK, response.json()
