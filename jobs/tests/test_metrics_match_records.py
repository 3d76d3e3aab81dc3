"""After a load of every kind of billed work, what /metrics says agrees with the
ledger and the call records: credits charged (one-call jobs, completed jobs,
expired jobs), tokens, calls by outcome and provider latencies."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from django.db.models import Sum
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from credits.models import EntryType, LedgerEntry
from jobs.models import CallStatus, LLMCall
from jobs.services import jobs_expire
from jobs.tests.conftest import call_body, complete, llm_call

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def scraped() -> Counter:
    """The served figures of the team's and the `chat` alias's series."""
    text = APIClient().get("/metrics", HTTP_X_ADMIN_KEY=django_settings.MASTER_KEY).text
    figures: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("team") == "acme-corp" and sample.name.endswith("_total"):
                figures[(sample.name, labels.get("kind", ""))] += sample.value
            if labels.get("alias") == "chat" and sample.name in (
                "saas_litellm_llm_calls_total",
                "saas_litellm_provider_latency_seconds_count",
            ):
                figures[(sample.name, labels.get("outcome", ""))] += sample.value
    return figures


def test_metrics_after_a_load_match_the_ledger_and_the_calls(
    team, team_client, chat_alias, fake_provider, settings
):
    before = scraped()
    # One-call jobs through /v1, streamed and not.
    for stream in (False, True):
        response = team_client.post(
            "/v1/chat/completions", call_body(stream=stream), format="json"
        )
        assert response.status_code == HTTPStatus.OK
        if response.streaming:
            b"".join(response.streaming_content)  # read to the end: then recorded
    # A job of two calls, completed; one left open and closed by expire_jobs.
    for closes in (True, False):
        job_id = team_client.post(
            "/api/jobs/create", {"team_id": "acme-corp", "job_type": "t"}, format="json"
        ).json()["job_id"]
        assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
        assert llm_call(team_client, job_id).status_code == HTTPStatus.OK
        if closes:
            assert complete(team_client, job_id).status_code == HTTPStatus.OK
    assert jobs_expire(older_than=timedelta(0))["completed"] == 1
    # A provider failure (not retried): recorded, not billed.
    settings.ROUTER_RETRIES = 0
    fake_provider.state.behaviour.fail_next = 1
    team_client.post("/v1/chat/completions", call_body(), format="json")

    after = scraped()
    moved = {name: after[name] - before[name] for name in after}
    calls = LLMCall.objects.filter(team=team)
    tokens = calls.aggregate(p=Sum("prompt_tokens"), c=Sum("completion_tokens"))
    charged = -LedgerEntry.objects.filter(
        account__team=team, entry_type=EntryType.DEDUCTION
    ).aggregate(total=Sum("amount"))["total"]
    assert charged == 4  # four jobs billed, one credit each
    assert moved[("saas_litellm_credits_charged_total", "")] == charged
    assert moved[("saas_litellm_tokens_total", "prompt")] == tokens["p"]
    assert moved[("saas_litellm_tokens_total", "completion")] == tokens["c"]
    succeeded = calls.filter(status=CallStatus.SUCCEEDED).count()
    failed = calls.filter(status=CallStatus.FAILED).count()
    assert (succeeded, failed) == (6, 1)
    assert moved[("saas_litellm_llm_calls_total", "succeeded")] == succeeded
    failures = sum(
        value
        for (name, outcome), value in moved.items()
        if name == "saas_litellm_llm_calls_total" and outcome != "succeeded"
    )
    assert failures == failed
    assert moved[("saas_litellm_provider_latency_seconds_count", "")] == (
        calls.exclude(latency_ms=None).count()
    )
