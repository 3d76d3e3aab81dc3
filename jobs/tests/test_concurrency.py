"""Concurrent requests on one team: charged once, never more than its credits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from rest_framework.test import APIClient

from credits.models import CreditHold, EntryType, LedgerEntry
from credits.services import credit_add
from jobs.models import Job, JobStatus, LLMCall
from jobs.services import job_complete
from jobs.tests.conftest import account, call_body, complete
from teams.models import BudgetMode
from teams.services import team_create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rollups_agree"),
]


def in_threads(count: int, work) -> list:
    def run(number: int):
        try:
            return work(number)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def assert_ledger_invariant(team) -> None:
    balance = account(team)
    entries = LedgerEntry.objects.filter(account__team=team).aggregate(s=Sum("amount"))
    assert balance.credits_allocated - balance.credits_used == entries["s"]
    assert balance.credits_used + balance.credits_reserved <= balance.credits_allocated


def test_concurrent_completions_charge_the_job_once(team_key, team, job_id):
    client_for(team_key).post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    results = in_threads(8, lambda _: complete(client_for(team_key), job_id))
    assert {r.status_code for r in results} == {HTTPStatus.OK}
    assert len({r.content for r in results}) == 1
    assert account(team).credits_used == 1
    assert LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION).count() == 1
    assert_ledger_invariant(team)


@pytest.fixture
def small_team(organization, access_group, chat_alias):
    issued = team_create(organization=organization, team_id="small", actor="tests")
    credit_add(team=issued.key.team, credits=5, actor="tests")
    issued.key.team.access_groups.add(access_group)
    return issued


def test_concurrent_jobs_never_spend_more_than_the_team_has(small_team):
    def one_job(_: int) -> int:
        client = client_for(small_team.plaintext)
        created = client.post(
            "/api/jobs/create", {"team_id": "small", "job_type": "t"}, format="json"
        )
        if created.status_code != HTTPStatus.CREATED:
            return created.status_code
        job_id = created.json()["job_id"]
        client.post(f"/api/jobs/{job_id}/llm-call", call_body(), format="json")
        return complete(client, job_id).status_code

    results = in_threads(12, one_job)
    team = small_team.key.team
    assert results.count(HTTPStatus.OK) == 5
    assert results.count(HTTPStatus.FORBIDDEN) == 7
    assert account(team).credits_used == 5
    assert Job.objects.filter(status=JobStatus.COMPLETED).count() == 5
    assert_ledger_invariant(team)


def test_concurrent_one_call_jobs_past_the_credits_are_refused_and_write_nothing(
    small_team,
):
    """Their reservations are refused by the account's CHECK constraint at the
    commit, after waiting for the row: each refusal leaves no job, call or hold."""
    body = {"team_id": "small", "job_type": "one-shot", **call_body()}

    def one_shot(_: int) -> int:
        client = client_for(small_team.plaintext)
        return client.post("/api/jobs/create-and-call", body, format="json").status_code

    results = in_threads(12, one_shot)
    team = small_team.key.team
    assert results.count(HTTPStatus.OK) == 5
    assert results.count(HTTPStatus.FORBIDDEN) == 7
    assert Job.objects.filter(team=team).count() == 5
    assert LLMCall.objects.filter(team=team).count() == 5
    assert CreditHold.objects.filter(account__team=team).count() == 5
    assert (account(team).credits_used, account(team).credits_reserved) == (5, 0)
    assert_ledger_invariant(team)


def test_concurrent_calls_in_consumption_mode_stay_within_the_credits(small_team):
    team = small_team.key.team
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 10
    team.save()
    client = client_for(small_team.plaintext)
    job_ids = [
        client.post(
            "/api/jobs/create", {"team_id": "small", "job_type": "t"}, format="json"
        ).json()["job_id"]
        for _ in range(2)
    ]

    def one_call(number: int) -> int:
        job_id = job_ids[number % 2]
        response = client_for(small_team.plaintext).post(
            f"/api/jobs/{job_id}/llm-call", call_body(max_tokens=15), format="json"
        )
        return response.status_code

    results = in_threads(10, one_call)
    assert set(results) <= {HTTPStatus.OK, HTTPStatus.FORBIDDEN}
    assert HTTPStatus.FORBIDDEN in results
    assert_ledger_invariant(team)
    for job_id in job_ids:
        complete(client, job_id)
    assert account(team).credits_used <= 5
    assert account(team).credits_reserved == 0
    assert_ledger_invariant(team)


def test_concurrent_one_shot_jobs_all_succeed_and_are_all_billed(
    team_key, team, chat_alias
):
    """Completing a job must not lock the team row: concurrent job and call inserts
    check their foreign key to it, and PostgreSQL then deadlocked (seen under load)."""
    before = account(team).credits_used
    body = {"team_id": team.team_id, "job_type": "one-shot", **call_body()}

    def one_shot(_: int):
        return client_for(team_key).post(
            "/api/jobs/create-and-call", body, format="json"
        )

    results = in_threads(12, one_shot)
    assert [r.status_code for r in results] == [HTTPStatus.OK] * 12
    assert Job.objects.filter(team=team, status=JobStatus.COMPLETED).count() == 12
    assert account(team).credits_used == before + 12
    assert_ledger_invariant(team)


def test_completing_a_job_does_not_wait_for_another_job_being_created(
    team_key, team, job_id
):
    """A job insert checks its foreign key to the team at commit, taking a key-share
    lock on the team row while it already holds the credit account. Completing another
    job must not lock the team row: it once did, and under load the two deadlocked."""
    client_for(team_key).post(
        f"/api/jobs/{job_id}/llm-call", call_body(), format="json"
    )
    inserted, finish = threading.Event(), threading.Event()

    def create_and_hold() -> None:
        try:
            with transaction.atomic():
                Job.objects.create(team=team, job_type="in-flight")
                with connection.cursor() as cursor:
                    # Run the commit-time foreign key check now, and hold its lock.
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                inserted.set()
                finish.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=create_and_hold)
    holder.start()
    try:
        assert inserted.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        job = job_complete(team=team, job_id=job_id, status=JobStatus.COMPLETED)
    finally:
        finish.set()
        holder.join()
    assert job.credits_charged == 1
