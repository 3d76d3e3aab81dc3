"""Refusals and failures of /v1/messages reach the official Anthropic SDK as its usual
exception classes, in Anthropic's error shape; refusals leave the credits as they
were. The key is read from x-api-key or a Bearer token."""

from __future__ import annotations

import anthropic
import pytest

from jobs.models import Job, LLMCall
from jobs.tests.anthropic_sdk import hello, sdk
from jobs.tests.conftest import ledger_snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRONG_KEY = "sk-not-a-real-key-" + "x" * 30


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def refused(client, error_class, **overrides):
    with pytest.raises(error_class) as raised:
        client.messages.create(**hello(**overrides))
    return raised.value


def error_of(exc: anthropic.APIStatusError) -> dict:
    assert exc.body["type"] == "error"
    return exc.body["error"]


def test_the_key_is_accepted_as_a_bearer_token(server, team_key, chat_alias):
    client = sdk(server, "", auth_token=team_key)
    assert client.messages.create(**hello()).content[0].text == "Echo: hello world"


@pytest.mark.parametrize("header", ["api_key", "auth_token"])
def test_a_wrong_key_is_an_authentication_error(server, chat_alias, header):
    client = sdk(server, WRONG_KEY, **{header: WRONG_KEY})
    error = refused(client, anthropic.AuthenticationError)
    assert error.status_code == 401
    assert error_of(error) == {
        "type": "authentication_error",
        "message": "Invalid or missing API key",
    }
    assert not Job.objects.exists()


def test_a_model_outside_the_teams_groups_is_a_permission_error(
    client, make_alias, team
):
    make_alias("not-for-them", grouped=False)
    before = ledger_snapshot(team)
    error = refused(client, anthropic.PermissionDeniedError, model="not-for-them")
    assert error_of(error)["type"] == "permission_error"
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before


def test_a_rate_limited_team_gets_a_rate_limit_error(client, team, whole_window):
    team.requests_per_minute = 1
    team.save()
    client.messages.create(**hello())
    before = ledger_snapshot(team)
    error = refused(client, anthropic.RateLimitError)
    assert error_of(error)["type"] == "rate_limit_error"
    assert 1 <= int(error.response.headers["Retry-After"]) <= 60
    assert ledger_snapshot(team) == before


def test_a_failing_provider_is_an_api_error(client, make_alias, team):
    make_alias("down", "fake-fail-500")
    before = ledger_snapshot(team)
    error = refused(client, anthropic.InternalServerError, model="down")
    assert error.status_code == 502
    assert error_of(error) == {"type": "api_error", "message": "LLM call failed"}
    assert ledger_snapshot(team) == before


def test_a_provider_timeout_is_a_timeout_error(client, make_alias):
    make_alias("stuck", "fake-timeout")
    error = refused(client, anthropic.APIStatusError, model="stuck")
    assert error.status_code == 504
    assert error_of(error)["type"] == "timeout_error"


def test_another_teams_job_is_not_found(client, other_team_client, chat_alias):
    response = other_team_client.post(
        "/api/jobs/create",
        {"team_id": "globex", "job_type": "theirs"},
        format="json",
    )
    error = refused(
        client,
        anthropic.NotFoundError,
        extra_headers={"X-Job-Id": response.json()["job_id"]},
    )
    assert error_of(error)["type"] == "not_found_error"


SERVER_TOOL = {"type": "web_search_20250305", "name": "web_search"}
SEARCH_RESULT = [{"role": "user", "content": [{"type": "search_result"}]}]
NOT_HONOURED = {
    "server tool": ({"tools": [SERVER_TOOL]}, "tools[0].type"),
    "mcp": ({"extra_body": {"mcp_servers": [{"type": "url"}]}}, "mcp_servers"),
    "container": ({"extra_body": {"container": "container_1"}}, "container"),
    "block": ({"messages": SEARCH_RESULT}, "messages[0].content[0].type"),
    "role": ({"messages": [{"role": "system", "content": "hi"}]}, "messages[0].role"),
    "stops": ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
    "user": ({"metadata": {"user_id": "u" * 201}}, "metadata.user_id"),
    "max": ({"max_tokens": 0}, "max_tokens"),
}


@pytest.mark.parametrize(
    ("overrides", "named"), NOT_HONOURED.values(), ids=NOT_HONOURED.keys()
)
def test_what_cannot_be_honoured_is_a_400_naming_the_field(
    client, fake_provider, overrides, named
):
    before = fake_provider.request_count
    error = refused(client, anthropic.BadRequestError, **overrides)
    assert error_of(error)["type"] == "invalid_request_error"
    assert named in error_of(error)["message"]
    assert fake_provider.request_count == before
    assert not LLMCall.objects.exists()


def test_max_tokens_is_required(server, team_key, chat_alias):
    client = sdk(server, team_key)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.post(
            "/v1/messages",
            body={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
            cast_to=object,
        )
    assert "max_tokens" in error_of(raised.value)["message"]
