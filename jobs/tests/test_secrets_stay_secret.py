from __future__ import annotations

import logging

import pytest

from jobs.models import LLMCall
from jobs.tests.conftest import llm_call

PROVIDER_SECRET = "sk-fake-provider-secret"


@pytest.mark.parametrize("behaviour", ["fake-echo", "fake-fail-401", "fake-fail-500"])
def test_the_provider_key_never_reaches_logs_responses_or_records(
    team_client, job_id, make_alias, caplog, behaviour
):
    caplog.set_level(logging.DEBUG)
    make_alias("target", behaviour)
    response = llm_call(team_client, job_id, model="target")
    assert PROVIDER_SECRET not in caplog.text
    assert PROVIDER_SECRET not in response.content.decode()
    assert PROVIDER_SECRET not in LLMCall.objects.get().error


def test_responses_never_name_the_real_model(team_client, job_id, make_alias):
    make_alias("target", "fake-fail-500")
    body = llm_call(team_client, job_id, model="target").content.decode()
    body += team_client.get(f"/api/jobs/{job_id}").content.decode()
    assert "fake-fail-500" not in body
    assert "openai" not in body
