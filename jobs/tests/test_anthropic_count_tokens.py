"""/v1/messages/count_tokens counts with litellm's tokenizer and writes nothing;
/v1/models answers in Anthropic's shape when asked with anthropic-version."""

from __future__ import annotations

import anthropic
import pytest

from jobs.models import Job, LLMCall
from jobs.tests.anthropic_sdk import sdk
from jobs.tests.conftest import ledger_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HELLO = [{"role": "user", "content": "hello world"}]
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city, from a long list of sources",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def counted(client, **fields) -> int:
    fields.setdefault("messages", HELLO)
    return client.messages.count_tokens(model="chat", **fields).input_tokens


def test_tokens_are_counted_and_nothing_is_written(client, team, fake_provider):
    before, asked = ledger_snapshot(team), fake_provider.request_count
    assert counted(client) > 0
    assert not Job.objects.exists()
    assert not LLMCall.objects.exists()
    assert ledger_snapshot(team) == before
    assert fake_provider.request_count == asked


def test_the_system_prompt_and_the_tools_count(client):
    alone = counted(client)
    assert counted(client, system="You answer in French, briefly.") > alone
    assert counted(client, tools=[TOOL]) > alone


def test_the_count_is_what_a_streams_message_start_says(client):
    events = client.messages.create(
        model="chat", max_tokens=10, messages=HELLO, stream=True
    )
    start = next(iter(events))
    assert start.message.usage.input_tokens == counted(client)


def test_a_model_the_team_may_not_use_is_a_permission_error(client, make_alias):
    make_alias("not-for-them", grouped=False)
    with pytest.raises(anthropic.PermissionDeniedError):
        client.messages.count_tokens(model="not-for-them", messages=HELLO)


def test_a_wrong_key_cannot_count(server, chat_alias):
    with pytest.raises(anthropic.AuthenticationError):
        sdk(server, "sk-wrong").messages.count_tokens(model="chat", messages=HELLO)


def test_an_invalid_body_is_refused_as_for_a_message(client):
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.count_tokens(model="chat", messages=[])
    assert raised.value.body["error"]["type"] == "invalid_request_error"


def test_models_are_listed_in_anthropics_shape(client, make_alias):
    make_alias("not-for-them", grouped=False)
    page = client.models.list()
    assert [model.id for model in page.data] == ["chat"]
    (model,) = page.data
    assert (model.type, model.display_name) == ("model", "chat")
    assert model.created_at.tzinfo is not None
    assert page.has_more is False
    assert (page.first_id, page.last_id) == ("chat", "chat")


def test_models_without_anthropic_version_stay_openais(team_client, chat_alias):
    body = team_client.get("/v1/models").json()
    assert body["object"] == "list"
    assert body["data"][0]["object"] == "model"


def test_a_wrong_key_gets_anthropics_error_from_models(server, chat_alias):
    with pytest.raises(anthropic.AuthenticationError) as raised:
        sdk(server, "sk-wrong").models.list()
    assert raised.value.body["error"]["type"] == "authentication_error"
