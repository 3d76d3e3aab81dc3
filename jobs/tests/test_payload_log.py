"""Payload logging: off by default; when a team's `payload_log_days` is set, each
call's prompt and answer are kept that long (key-like strings replaced), shown on
the request log's call page, and deleted by `prune_calls` once their time is up."""

from __future__ import annotations

import io
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import CallPayload, LLMCall
from jobs.services.payloads import KEY_REDACTED
from jobs.tests.conftest import call_body

pytestmark = pytest.mark.django_db
SECRET = "sk-" + "0a1b2c3d" * 4


def payload_days(client, days):
    return client.put("/api/teams/acme-corp", {"payload_log_days": days}, format="json")


def chat(client, **fields):
    return client.post("/v1/chat/completions", call_body(**fields), format="json")


def test_nothing_is_kept_by_default(team_client, chat_alias):
    assert chat(team_client).status_code == HTTPStatus.OK
    assert LLMCall.objects.count() == 1
    assert not CallPayload.objects.exists()


def test_a_teams_prompts_and_answers_are_kept_for_its_days(
    admin_client_api, team_client, chat_alias
):
    answer = payload_days(admin_client_api, 7)
    assert answer.status_code == HTTPStatus.OK, answer.content
    assert answer.json()["payload_log_days"] == 7
    prompt = f"my key is {SECRET}, and Bearer abcdefghijklmnopqrstuvwxyz012345"
    response = chat(
        team_client,
        messages=[{"role": "user", "content": prompt}],
        temperature=0.5,
    )
    assert response.status_code == HTTPStatus.OK
    payload = CallPayload.objects.get()
    (message,) = payload.request["messages"]
    assert message["content"] == f"my key is {KEY_REDACTED}, and {KEY_REDACTED}"
    assert SECRET not in str(payload.request)
    assert payload.request["temperature"] == 0.5
    assert payload.response["texts"] == [f"Echo: {message['content']}"]
    assert payload.response["finish_reason"] == "stop"
    kept = payload.keep_until - payload.call.completed_at
    assert kept == timedelta(days=7)


def test_a_stream_and_a_failure_are_kept_too(
    admin_client_api, team_client, chat_alias, make_alias, stream_post
):
    make_alias("broken", "fake-fail-500")
    payload_days(admin_client_api, 1)
    streamed = stream_post("/v1/chat/completions", call_body(stream=True))
    assert streamed.status_code == HTTPStatus.OK
    assert chat(team_client, model="broken").status_code == HTTPStatus.BAD_GATEWAY
    by_status = {payload.call.status: payload for payload in CallPayload.objects.all()}
    assert by_status["succeeded"].response["texts"] == ["Echo: hello world"]
    assert by_status["failed"].response is None
    assert by_status["failed"].request["messages"][0]["content"] == "hello world"


@pytest.mark.parametrize("days", [-1, 401, "7", None])
def test_days_out_of_range_are_a_400(admin_client_api, team, days):
    response = payload_days(admin_client_api, days)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "payload_log_days" in response.json()["detail"]
    team.refresh_from_db()
    assert team.payload_log_days == 0


def test_a_team_key_cannot_turn_it_on(team_client, team):
    assert payload_days(team_client, 30).status_code == HTTPStatus.UNAUTHORIZED
    team.refresh_from_db()
    assert team.payload_log_days == 0


def test_prune_calls_deletes_the_payloads_whose_time_is_up(
    admin_client_api, team_client, chat_alias
):
    payload_days(admin_client_api, 3)
    for _ in range(3):
        chat(team_client)
    expired, *kept = CallPayload.objects.order_by("call_id")
    CallPayload.objects.filter(pk=expired.pk).update(
        keep_until=timezone.now() - timedelta(seconds=1)
    )
    out = io.StringIO()
    call_command("prune_calls", stdout=out)
    assert "and 1 payload(s) kept past their time" in out.getvalue()
    assert set(CallPayload.objects.all()) == set(kept)
    assert LLMCall.objects.count() == 3  # the calls stay, within retention


def test_the_call_page_shows_the_payload_escaped(
    admin_client_api, team_client, chat_alias
):
    payload_days(admin_client_api, 1)
    chat(team_client, messages=[{"role": "user", "content": "<script>x</script>"}])
    operator = Client()
    operator.force_login(get_user_model().objects.create_superuser("op", "o@x.io"))
    call = LLMCall.objects.get()
    page = operator.get(reverse("admin:jobs_llmcall_change", args=[call.pk]))
    html = page.content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html
    assert "Echo: &lt;script&gt;" in html
