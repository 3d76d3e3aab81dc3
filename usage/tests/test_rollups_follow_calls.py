"""Every recorded call and every charge lands in its day's rollup, in the same
transaction: calls through the API (litellm's mock) and the ledger agree with it."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.db.models import Sum

from credits.models import EntryType, LedgerEntry
from jobs.models import Job, LLMCall
from usage.models import UsageDaily
from usage.services import day_of
from usage.tests.conftest import chat, job_call, job_complete, job_open

pytestmark = pytest.mark.django_db


def charged_in_ledger() -> int:
    entries = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    return -(entries.aggregate(total=Sum("amount"))["total"] or 0)


def test_a_call_is_counted_in_its_group_on_the_day_it_was_created(
    team_client, team, mock_alias
):
    job_id = job_open(team_client, user_id="end-user-7")
    assert job_call(team_client, job_id).status_code == HTTPStatus.OK
    call = LLMCall.objects.get()
    row = UsageDaily.objects.get()
    assert (row.day, row.team) == (day_of(call.created_at), team)
    assert row.key == team.keys.get()  # the key that opened the job
    assert (row.model_alias, row.user_id, row.job_type) == (
        "mock",
        "end-user-7",
        "report",
    )
    assert (row.calls, row.failed_calls, row.credits) == (1, 0, 0)
    assert row.prompt_tokens == call.prompt_tokens > 0
    assert row.total_tokens == call.total_tokens
    assert row.provider_cost_usd == call.provider_cost_usd > 0
    assert row.client_cost_usd == call.client_cost_usd


def test_completing_a_job_adds_its_charge_to_its_first_alias(team_client, mock_alias):
    job_id = job_open(team_client)
    job_call(team_client, job_id)
    job_call(team_client, job_id)
    assert job_complete(team_client, job_id).status_code == HTTPStatus.OK
    row = UsageDaily.objects.get()
    assert (row.calls, row.model_alias) == (2, "mock")
    assert row.credits == Job.objects.get().credits_charged == charged_in_ledger() > 0


def test_a_one_call_job_is_counted_with_its_charge(team_client, mock_alias):
    assert chat(team_client, user="someone").status_code == HTTPStatus.OK
    row = UsageDaily.objects.get()
    assert (row.calls, row.user_id) == (1, "someone")
    assert row.credits == charged_in_ledger() == 1


def test_a_failed_call_counts_as_failed_and_costs_nothing(
    team_client, mock_alias, failing_alias
):
    job_id = job_open(team_client)
    assert job_call(team_client, job_id, model="broken").status_code >= 400
    row = UsageDaily.objects.get()
    assert (row.model_alias, row.calls, row.failed_calls) == ("broken", 1, 1)
    assert (row.total_tokens, row.provider_cost_usd) == (0, 0)


def test_calls_of_one_group_add_up_in_one_row(team_client, mock_alias):
    for _ in range(3):
        chat(team_client)
    assert UsageDaily.objects.count() == 1
    row = UsageDaily.objects.get()
    calls = LLMCall.objects.aggregate(tokens=Sum("total_tokens"))
    assert (row.calls, row.total_tokens, row.credits) == (3, calls["tokens"], 3)


def test_other_end_users_get_rows_of_their_own(team_client, mock_alias):
    chat(team_client, user="a")
    chat(team_client, user="b")
    groups = set(UsageDaily.objects.values_list("user_id", "calls"))
    assert groups == {("a", 1), ("b", 1)}
