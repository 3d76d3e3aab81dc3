"""`rollups_rebuild --check` proves the rollups agree with the calls and the ledger,
and names each group that does not; `rollups_rebuild` repairs them."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone
from rest_framework.test import APIClient

from credits.models import EntryType, LedgerEntry
from credits.services import credit_add
from usage.models import (
    COUNTER_FIELDS,
    TOTAL_SHARDS,
    UsageDaily,
    UsageDailyTotal,
    UsageMonthly,
)
from usage.tests.conftest import chat, job_call, job_complete, job_open


def rebuild(*args: str) -> str:
    out = io.StringIO()
    call_command("rollups_rebuild", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def some_usage(team_client, mock_alias, failing_alias) -> None:
    chat(team_client, user="u1")
    chat(team_client, user="u2")
    job_id = job_open(team_client)
    job_call(team_client, job_id)
    job_call(team_client, job_id, model="broken")
    job_complete(team_client, job_id)


@pytest.mark.django_db
def test_the_check_agrees_after_real_calls(some_usage):
    assert UsageDaily.objects.count() == 4
    assert "agree" in rebuild("--check")


@pytest.mark.django_db
def test_a_tampered_row_fails_the_check_and_is_named(some_usage):
    UsageDaily.objects.filter(user_id="u1").update(calls=F("calls") + 1)
    with pytest.raises(CommandError, match="1 rollup group"):
        rebuild("--check")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("rollups_rebuild", "--check", stdout=out)
    assert "user='u1'" in out.getvalue()
    assert "calls 2 != 1" in out.getvalue()


@pytest.mark.django_db
def test_a_missing_or_extra_row_fails_the_check(some_usage, team):
    UsageDaily.objects.filter(user_id="u2").delete()
    UsageDaily.objects.create(
        day=timezone.now().date(), team=team, model_alias="ghost", calls=1
    )
    with pytest.raises(CommandError, match="2 rollup group"):
        rebuild("--check")


@pytest.mark.django_db
def test_a_rebuild_repairs_what_the_check_found(some_usage):
    before = set(UsageDaily.objects.values_list("user_id", "model_alias", "calls"))
    UsageDaily.objects.filter(user_id="u1").update(credits=F("credits") + 5)
    UsageDaily.objects.filter(user_id="u2").delete()
    assert "2 fixed" in rebuild()
    assert "agree" in rebuild("--check")
    after = set(UsageDaily.objects.values_list("user_id", "model_alias", "calls"))
    assert after == before


def by_alias(rows) -> dict[str, tuple[int, int, int]]:
    """Rollup rows summed per alias: calls, credits, jobs closed."""
    sums: dict[str, tuple[int, int, int]] = {}
    for row in rows:
        calls, credits, jobs = sums.get(row.model_alias, (0, 0, 0))
        sums[row.model_alias] = (
            calls + row.calls,
            credits + row.credits,
            jobs + row.jobs_completed + row.jobs_failed,
        )
    return sums


def totals_by_alias() -> dict[str, tuple[int, int, int]]:
    return by_alias(UsageDailyTotal.objects.all())


@pytest.mark.django_db
def test_the_totals_across_teams_are_the_teams_rows_summed(some_usage, team):
    expected = by_alias(UsageDaily.objects.all())
    assert totals_by_alias() == expected
    assert expected["mock"][0] == 3  # two one-call jobs and a job's call
    assert set(UsageDailyTotal.objects.values_list("shard", flat=True)) == {
        team.pk % TOTAL_SHARDS
    }


@pytest.mark.django_db
def test_a_tampered_total_fails_the_check_and_a_rebuild_repairs_it(some_usage):
    before = totals_by_alias()
    UsageDailyTotal.objects.filter(model_alias="mock").update(credits=F("credits") + 7)
    UsageDailyTotal.objects.filter(model_alias="broken").delete()
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 rollup group"):
        call_command("rollups_rebuild", "--check", stdout=out)
    assert "every team" in out.getvalue()
    assert "alias='mock'" in out.getvalue()
    assert "2 fixed" in rebuild()
    assert totals_by_alias() == before
    assert "agree" in rebuild("--check")


@pytest.mark.django_db
@pytest.mark.parametrize("tamper", ["changed", "deleted"])
def test_a_tampered_month_fails_the_check_and_a_rebuild_repairs_it(
    some_usage, team, tamper
):
    before = UsageMonthly.objects.values_list(*COUNTER_FIELDS).get(team=team)
    if tamper == "changed":
        UsageMonthly.objects.update(credits=F("credits") + 3)
    else:
        UsageMonthly.objects.all().delete()
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 rollup group"):
        call_command("rollups_rebuild", "--check", stdout=out)
    assert f"team={team.pk} (the month)" in out.getvalue()
    assert "1 fixed" in rebuild()
    assert UsageMonthly.objects.values_list(*COUNTER_FIELDS).get(team=team) == before
    assert UsageMonthly.objects.get(team=team).organization_id == team.organization_id
    assert "agree" in rebuild("--check")


@pytest.mark.django_db
def test_a_month_the_range_does_not_hold_whole_is_not_checked(some_usage):
    UsageMonthly.objects.update(credits=F("credits") + 3)
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert "agree" in rebuild("--check", "--start", "2020-01-01", "--end", yesterday)


@pytest.mark.django_db
def test_days_outside_the_range_are_not_checked(some_usage):
    UsageDaily.objects.update(calls=F("calls") + 1)
    yesterday = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert "agree" in rebuild("--check", "--start", "2020-01-01", "--end", yesterday)


@pytest.mark.django_db
def test_a_bad_range_is_refused(db):
    with pytest.raises(CommandError, match="--end"):
        rebuild("--check", "--start", "2025-02-01", "--end", "2025-01-01")


def in_threads(count: int, work) -> list:
    def run(number: int):
        try:
            return work(number)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_check_agrees_after_concurrent_calls_and_charges(
    team, team_key, mock_alias
):
    """One-call jobs and completed jobs of the same group at once: each outcome and
    charge counted once, no deadlock between rollup rows and the account row."""
    credit_add(team=team, credits=1_000, actor="tests")

    def work(number: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {team_key}")
        if number % 2:
            body = {"team_id": "acme-corp", "job_type": "report", "model": "mock"}
            body["messages"] = [{"role": "user", "content": "hi"}]
            return client.post(
                "/api/jobs/create-and-call", body, format="json"
            ).status_code
        job_id = job_open(client)
        job_call(client, job_id)
        return job_complete(client, job_id).status_code

    assert set(in_threads(8, work)) == {HTTPStatus.OK}
    assert "agree" in rebuild("--check")
    row = UsageDaily.objects.get()
    charged = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).aggregate(
        total=Sum("amount")
    )["total"]
    assert (row.calls, row.credits) == (8, -charged)
    total = UsageDailyTotal.objects.get()
    assert (total.calls, total.credits, total.jobs_completed) == (8, -charged, 8)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_month_repaired_while_calls_are_recorded_adds_up(team, team_key, mock_alias):
    """The months are repaired without a lock: what a month lacks against its days
    stays the same while calls add to both."""
    credit_add(team=team, credits=1_000, actor="tests")

    def call() -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {team_key}")
        return chat(client).status_code

    assert call() == HTTPStatus.OK
    UsageMonthly.objects.update(calls=F("calls") + 5, credits=F("credits") - 1)

    def work(number: int) -> object:
        return rebuild() if number == 0 else call()

    results = in_threads(6, work)
    assert "1 fixed" in results[0]
    assert set(results[1:]) == {HTTPStatus.OK}
    assert "agree" in rebuild("--check")
    month = UsageMonthly.objects.get()
    assert (month.calls, month.credits) == (6, 6)
