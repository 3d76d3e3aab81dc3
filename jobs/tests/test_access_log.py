"""With LOG_FORMAT=json each request is one access line naming the team, the key's
public id, the alias and the credits, and never the key, the prompt or the query
string; every other line carries the request's id."""

from __future__ import annotations

import io
import json
import logging
from http import HTTPStatus

import pytest
import requests

from jobs.tests.conftest import call_body
from jobs.tests.processes import gunicorn_start, server_env, server_stop, server_wait
from saas_litellm.logs import JsonFormatter

PROMPT = "the quick brown ocelot counts to 7731"


@pytest.fixture
def json_log():
    """The root logger also writes to a buffer through the JSON formatter, with the
    access log on, as settings do with LOG_FORMAT=json."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("saas_litellm.access")
    level = access.level
    access.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    yield buffer
    logging.getLogger().removeHandler(handler)
    access.setLevel(level)


def lines(buffer: io.StringIO, logger: str) -> list[dict]:
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [record for record in records if record["logger"] == logger]


def test_a_call_is_one_access_line_with_team_key_alias_and_credits(
    team_client, issued_team_key, chat_alias, json_log
):
    body = call_body(messages=[{"role": "user", "content": PROMPT}])
    response = team_client.post(
        "/v1/chat/completions", body, format="json", HTTP_X_REQUEST_ID="log-1"
    )
    assert response.status_code == HTTPStatus.OK
    [line] = lines(json_log, "saas_litellm.access")
    assert {key: line[key] for key in line if key not in ("time", "latency_ms")} == {
        "level": "INFO",
        "logger": "saas_litellm.access",
        "message": line["message"],
        "request_id": "log-1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "route": "v1/chat/completions",
        "status": 200,
        "team_id": "acme-corp",
        "key_id": str(issued_team_key.key.key_id),
        "alias": "chat",
        "credits_charged": 1,
    }
    assert line["latency_ms"] > 0


def test_no_key_prompt_or_provider_secret_reaches_the_log(
    team_client, team_key, chat_alias, json_log
):
    body = call_body(messages=[{"role": "user", "content": PROMPT}])
    team_client.post("/v1/chat/completions", body, format="json")
    team_client.post("/v1/chat/completions", {**body, "model": "nope"}, format="json")
    text = json_log.getvalue()
    assert "saas_litellm.access" in text
    assert team_key not in text
    assert team_key[3:] not in text
    assert "ocelot" not in text
    assert "sk-fake-provider-secret" not in text


def test_the_query_string_is_left_out(anonymous_client, json_log):
    anonymous_client.get("/api/teams/verify?api_key=sk-in-the-url")
    [line] = lines(json_log, "saas_litellm.access")
    assert (line["path"], line["status"]) == ("/api/teams/verify", 401)
    assert line["code"] == "invalid_api_key"
    assert "sk-in-the-url" not in json_log.getvalue()


def test_other_lines_carry_the_request_id(anonymous_client, json_log):
    anonymous_client.get("/api/teams/verify", HTTP_X_REQUEST_ID="req-77")
    [refusal] = lines(json_log, "saas_litellm.exceptions")
    assert refusal["request_id"] == "req-77"
    assert "invalid_api_key" in refusal["message"]


def test_a_stream_is_logged_at_its_end_with_its_credits(
    stream_post, chat_alias, json_log
):
    response = stream_post("/v1/chat/completions", call_body(stream=True))
    assert response.status_code == HTTPStatus.OK
    [line] = lines(json_log, "saas_litellm.access")
    assert (line["status"], line["alias"]) == (200, "chat")
    assert line["credits_charged"] == 1
    assert line["request_id"] == response["X-Request-Id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_every_line_is_json(tmp_path, team_key, chat_alias):
    """gunicorn's own lines (boot, workers, shutdown) as well as the app's."""
    server = gunicorn_start(server_env(LOG_FORMAT="json"), tmp_path / "server.log")
    server_wait(server)
    answer = requests.post(
        f"{server.url}/v1/chat/completions",
        json=call_body(),
        headers={"Authorization": f"Bearer {team_key}"},
        timeout=30,
    )
    assert answer.status_code == HTTPStatus.OK
    server_stop(server)
    records = [json.loads(line) for line in server.log.read_text().splitlines() if line]
    loggers = {record["logger"] for record in records}
    assert {"gunicorn.error", "saas_litellm.access"} <= loggers
    access = [r for r in records if r["logger"] == "saas_litellm.access"]
    assert access[-1]["request_id"] == answer.headers["X-Request-Id"]
