from __future__ import annotations

from http import HTTPStatus

import pytest

from jobs.models import CallStatus, LLMCall
from jobs.tests.conftest import llm_call


@pytest.fixture(autouse=True)
def _no_retries(settings):
    """These pin the order of fallback aliases; an alias's own retries (once by
    default, before its fallbacks) are jobs/tests/test_routing.py's."""
    settings.ROUTER_RETRIES = 0


def test_a_retryable_failure_falls_back_to_the_next_alias(
    team_client, job_id, chat_alias, make_alias, fake_provider
):
    make_alias("flaky", "fake-fail-500", fallbacks=["chat"])
    before = fake_provider.request_count
    response = llm_call(team_client, job_id, model="flaky")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["metadata"]["model"] == "flaky"
    assert response.json()["response"]["content"] == "Echo: hello world"
    assert fake_provider.request_count == before + 2


def test_the_call_records_the_model_actually_used(
    team_client, job_id, make_alias, chat_alias
):
    make_alias("flaky", "fake-fail-429", fallbacks=["chat"])
    llm_call(team_client, job_id, model="flaky")
    call = LLMCall.objects.get()
    assert call.status == CallStatus.SUCCEEDED
    assert call.model_alias == "flaky"
    assert call.model_used == "openai/fake-echo"


def test_fallbacks_are_tried_in_order(team_client, job_id, make_alias, fake_provider):
    make_alias("second", "fake-fail-500")
    make_alias("third", "fake-echo")
    make_alias("first", "fake-fail-429", fallbacks=["second", "third"])
    llm_call(team_client, job_id, model="first")
    models = [r["body"]["model"] for r in fake_provider.state.requests[-3:]]
    assert models == ["fake-fail-429", "fake-fail-500", "fake-echo"]


def test_a_non_retryable_failure_does_not_fall_back(
    team_client, job_id, make_alias, chat_alias, fake_provider
):
    make_alias("rejected", "fake-fail-400", fallbacks=["chat"])
    before = fake_provider.request_count
    response = llm_call(team_client, job_id, model="rejected")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert fake_provider.request_count == before + 1


def test_an_inactive_fallback_is_skipped(team_client, job_id, make_alias, chat_alias):
    chat_alias.is_active = False
    chat_alias.save()
    make_alias("flaky", "fake-fail-500", fallbacks=["chat"])
    assert llm_call(team_client, job_id, model="flaky").status_code == 502


def test_a_stream_falls_back_before_its_first_byte(
    stream_post, job_id, make_alias, chat_alias
):
    make_alias("flaky", "fake-fail-500", fallbacks=["chat"])
    response = stream_post(
        f"/api/jobs/{job_id}/llm-call-stream",
        {"model": "flaky", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == HTTPStatus.OK
    assert b"Echo: hi" not in response.raw  # split over chunks
    assert LLMCall.objects.get().model_used == "openai/fake-echo"
