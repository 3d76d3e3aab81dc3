"""One-call jobs through the SQL functions (PostgreSQL): the same records and charges
as the ORM code in every budget mode and edge case, one statement each way; and
route plans reused only while the catalogue is unchanged."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from credits.models import CreditHold, LedgerEntry
from credits.services import (
    MINIMUM_JOB_CHARGE,
    credit_add,
    credit_adjust,
    credits_for_job,
    holds_expire,
)
from jobs import llm, one_call
from jobs.models import CallStatus, Job, LLMCall
from jobs.serializers import LLMCallSerializer
from jobs.services import job_call_finish, job_call_start
from jobs.tests.conftest import account, call_body
from teams.models import BudgetMode, ModelAccessGroup, Team
from teams.services import team_create

pytestmark = pytest.mark.postgres


@hypothesis_settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    mode=st.sampled_from(BudgetMode.values),
    tokens_per_credit=st.integers(1, 10**9),
    credits_per_dollar=st.decimals(
        min_value=Decimal("0.0001"), max_value=Decimal("99999999.9999"), places=4
    ),
    total_tokens=st.integers(0, 2**40),
    client_cost=st.decimals(
        min_value=Decimal(0), max_value=Decimal("999999.99999999"), places=8
    ),
)
def test_the_sql_charge_of_a_job_is_the_python_one(
    db, mode, tokens_per_credit, credits_per_dollar, total_tokens, client_cost
):
    team = Team(
        budget_mode=mode,
        tokens_per_credit=tokens_per_credit,
        credits_per_dollar=credits_per_dollar,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credits_for_job(%s, %s, %s, %s, %s, %s)",
            [
                mode,
                tokens_per_credit,
                credits_per_dollar,
                total_tokens,
                client_cost,
                MINIMUM_JOB_CHARGE,
            ],
        )
        charged = cursor.fetchone()[0]
    assert charged == credits_for_job(
        team=team, total_tokens=total_tokens, client_cost=client_cost
    )


# --- The two implementations side by side ------------------------------------------


def _chat_request(**overrides: Any):
    serializer = LLMCallSerializer(data=call_body(**overrides))
    serializer.is_valid(raise_exception=True)
    return serializer.call_request()


def _team(organization, access_group, team_id: str, **settings: Any) -> Team:
    team = team_create(
        organization=organization, team_id=team_id, actor="tests", **settings
    ).key.team
    credit_add(team=team, credits=100, actor="tests")
    team.access_groups.add(access_group)
    return Team.objects.select_related("organization").get(pk=team.pk)


def _state(team: Team, job: Job) -> dict[str, Any]:
    """Everything the two ways must leave identical (ids and times aside)."""
    balance = account(team)
    return {
        "account": (
            balance.credits_allocated,
            balance.credits_used,
            balance.credits_reserved,
        ),
        "job": Job.objects.filter(pk=job.pk)
        .values("status", "credits_charged", "error_message", "job_type")
        .get(),
        "calls": list(
            LLMCall.objects.filter(job=job).values(
                "status",
                "model_used",
                "total_tokens",
                "provider_cost_usd",
                "client_cost_usd",
                "reserved_tokens",
                "reserved_cost_usd",
                "finish_reason",
                "error",
                "streamed",
            )
        ),
        "hold": CreditHold.objects.filter(job_id=job.job_id)
        .values("status", "amount")
        .get(),
        "entries": list(
            LedgerEntry.objects.filter(job_id=job.job_id).values(
                "entry_type", "amount", "balance_before", "balance_after", "reason"
            )
        ),
    }


def _expire_holds(teams: list[Team]) -> None:
    holds_expire(now=timezone.now() + timedelta(days=30))


def _expire_holds_and_drain(teams: list[Team]) -> None:
    _expire_holds(teams)
    for team in teams:
        credit_adjust(
            team=team, credits=-account(team).credits_remaining, reason="drained"
        )


SCENARIOS = {
    "completed, job based": ({}, {"completion": True}, None),
    "completed, by tokens": (
        {"budget_mode": BudgetMode.CONSUMPTION_TOKENS, "tokens_per_credit": 100},
        {"completion": True},
        None,
    ),
    "completed, by cost": (
        {"budget_mode": BudgetMode.CONSUMPTION_USD, "credits_per_dollar": 1000},
        {"completion": True},
        None,
    ),
    "failed": ({}, {"error": "provider_error: 500", "job_error": "boom"}, None),
    "cancelled": ({}, {"error": "provider_error: cancelled"}, None),
    "hold expired": ({}, {"completion": True}, _expire_holds),
    "hold expired, account drained": (
        {"budget_mode": BudgetMode.CONSUMPTION_TOKENS, "tokens_per_credit": 1000},
        {"completion": True},
        _expire_holds_and_drain,
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_sql_functions_leave_what_the_orm_code_leaves(
    scenario, organization, access_group, make_alias, monkeypatch
):
    team_settings, outcome, meanwhile = SCENARIOS[scenario]
    make_alias("priced", pricing_input=Decimal("2.5"), pricing_output=Decimal("10"))
    ways = ("sql", "orm")
    teams = {
        way: _team(organization, access_group, f"t-{way}", **team_settings)
        for way in ways
    }
    tickets = {}
    for way in ways:
        monkeypatch.setattr(one_call, "available", lambda way=way: way == "sql")
        tickets[way] = job_call_start(
            team=teams[way], job_type="one_shot", request=_chat_request(model="priced")
        )
    if meanwhile is not None:
        meanwhile(list(teams.values()))
    states = {}
    for way in ways:
        monkeypatch.setattr(one_call, "available", lambda way=way: way == "sql")
        ticket = tickets[way]
        finish: dict[str, Any] = {
            key: value for key, value in outcome.items() if key != "completion"
        }
        if outcome.get("completion"):
            finish["completion"] = llm.Completion(
                route=ticket.routes[0],
                content="hi",
                finish_reason="stop",
                prompt_tokens=1234,
                completion_tokens=5678,
            )
        job_call_finish(ticket=ticket, **finish)
        states[way] = _state(teams[way], ticket.call.job)
    assert states["sql"] == states["orm"]
    assert states["sql"]["calls"][0]["status"] != "in_progress"


# --- Route plans and the catalogue version ------------------------------------------
# The version moves when a catalogue change commits: these tests commit.
committing = pytest.mark.django_db(transaction=True)


def _chat(client, model: str = "chat") -> Any:
    return client.post(
        "/v1/chat/completions",
        {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    )


@committing
def test_a_route_plan_is_rebuilt_when_its_alias_changes(team_client, chat_alias):
    assert _chat(team_client).status_code == HTTPStatus.OK
    chat_alias.actual_model = "openai/fake-fail-500"
    chat_alias.save()
    assert _chat(team_client).status_code == HTTPStatus.BAD_GATEWAY
    assert LLMCall.objects.latest("id").status == CallStatus.FAILED


@committing
def test_a_team_taken_out_of_a_group_loses_its_alias_at_once(
    team_client, team, chat_alias, access_group
):
    assert _chat(team_client).status_code == HTTPStatus.OK
    team.access_groups.remove(access_group)
    response = _chat(team_client)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["error"]["code"] == "model_access_denied"


@committing
def test_an_inactive_group_or_credential_is_seen_at_once(
    team_client, chat_alias, access_group, provider_credential
):
    assert _chat(team_client).status_code == HTTPStatus.OK
    access_group.is_active = False
    access_group.save()
    assert _chat(team_client).status_code == HTTPStatus.FORBIDDEN
    access_group.is_active = True
    access_group.save()
    assert _chat(team_client).status_code == HTTPStatus.OK
    provider_credential.is_active = False
    provider_credential.save()
    # No credential left for the alias: the call goes out without a key and fails.
    assert _chat(team_client).status_code == HTTPStatus.BAD_GATEWAY
    assert LLMCall.objects.latest("id").status == CallStatus.FAILED


@committing
def test_every_catalogue_table_moves_the_version(
    chat_alias, access_group, team, provider_credential
):
    def version() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version FROM teams_catalogueversion WHERE id = 1")
            return cursor.fetchone()[0]

    changes = [
        lambda: chat_alias.save(),
        lambda: chat_alias.access_groups.remove(access_group),
        lambda: access_group.save(),
        lambda: team.access_groups.remove(access_group),
        lambda: provider_credential.save(),
    ]
    for change in changes:
        before = version()
        change()
        assert version() > before


@committing
def test_concurrent_catalogue_edits_do_not_deadlock_on_the_version(chat_alias):
    """An alias edit (model_alias_update) and an access-group edit that adds the
    alias: each takes the version before any catalogue row, so the second waits for
    the first instead of the two waiting for each other."""
    group = ModelAccessGroup.objects.create(group_name="other")
    dsn = connection.get_connection_params()
    alias_editor = psycopg.connect(**dsn)
    group_editor = psycopg.connect(**dsn)
    outcome: dict[str, str] = {}

    def group_edit() -> None:
        try:
            group_editor.execute(
                "UPDATE teams_modelaccessgroup SET display_name = 'x' WHERE id = %s",
                [group.pk],
            )
            group_editor.execute(
                "INSERT INTO teams_modelalias_access_groups"
                " (modelalias_id, modelaccessgroup_id) VALUES (%s, %s)",
                [chat_alias.pk, group.pk],
            )
            group_editor.commit()
            outcome["group"] = "committed"
        except psycopg.Error as exc:
            outcome["group"] = str(exc)

    try:
        # As model_alias_update does: the version first (catalogue_lock), then the row.
        alias_editor.execute(
            "SELECT version FROM teams_catalogueversion WHERE id = 1 FOR UPDATE"
        )
        alias_editor.execute(
            "SELECT id FROM teams_modelalias WHERE id = %s FOR UPDATE", [chat_alias.pk]
        )
        waiting = threading.Thread(target=group_edit)
        waiting.start()
        time.sleep(0.3)  # the group edit now waits
        alias_editor.execute(
            "UPDATE teams_modelalias SET display_name = 'y' WHERE id = %s",
            [chat_alias.pk],
        )
        alias_editor.commit()
        waiting.join(timeout=10)
    finally:
        alias_editor.close()
        group_editor.close()
    assert outcome == {"group": "committed"}
    chat_alias.refresh_from_db()
    assert chat_alias.display_name == "y"
    assert chat_alias.access_groups.filter(pk=group.pk).exists()


@committing  # in autocommit, as served: the failed statement is its own transaction
def test_a_close_that_fails_still_records_the_calls_usage(team, chat_alias):
    # An impossible state makes one_call_job_close raise: the job is open but its
    # hold was released. The transaction rolls back; the usage must not go with it.
    ticket = job_call_start(team=team, job_type="one_shot", request=_chat_request())
    CreditHold.objects.filter(job_id=ticket.call.job.job_id).update(
        status="released", closed_at=timezone.now()
    )
    completion = llm.Completion(
        route=ticket.routes[0], content="hi", prompt_tokens=3, completion_tokens=4
    )
    with pytest.raises(DatabaseError, match="its hold is released"):
        job_call_finish(ticket=ticket, completion=completion)
    call = LLMCall.objects.get(pk=ticket.call.pk)
    assert (call.status, call.total_tokens) == (CallStatus.SUCCEEDED, 7)
    assert Job.objects.get(pk=ticket.call.job.pk).is_open
