"""Every refusal of /v1 reaches the official SDK as its usual exception class, with
OpenAI's error body, and leaves the credits as they were."""

from __future__ import annotations

import openai
import pytest

from credits.models import LedgerEntry
from jobs import services
from jobs.models import Job, JobStatus
from jobs.tests.conftest import account, ledger_snapshot
from jobs.tests.openai_sdk import hello, sdk
from teams.models import BudgetMode, TeamStatus
from teams.services import team_status_set

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def client(server, team_key, chat_alias):
    return sdk(server, team_key)


def refused(client, error_class, **overrides):
    with pytest.raises(error_class) as raised:
        client.chat.completions.create(**hello(**overrides))
    return raised.value


def test_a_bad_key_is_an_authentication_error(server, chat_alias):
    bad = sdk(server, "sk-not-a-real-key-" + "x" * 30)
    with pytest.raises(openai.AuthenticationError) as raised:
        bad.chat.completions.create(**hello())
    assert raised.value.status_code == 401
    assert raised.value.response.headers["WWW-Authenticate"] == "Bearer"
    assert raised.value.body == {
        "message": "Invalid or missing API key",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
        "request_id": raised.value.response.headers["X-Request-Id"],
    }


def test_a_bad_key_cannot_list_models(server, chat_alias):
    with pytest.raises(openai.AuthenticationError):
        sdk(server, "sk-wrong").models.list()


def test_a_model_outside_the_teams_groups_is_permission_denied(
    client, make_alias, team
):
    make_alias("not-for-them", grouped=False)
    before = ledger_snapshot(team)
    error = refused(client, openai.PermissionDeniedError, model="not-for-them")
    assert error.code == "model_access_denied"
    assert error.type == "permission_denied_error"
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before


def test_an_unknown_model_is_refused_like_a_forbidden_one(client):
    error = refused(client, openai.PermissionDeniedError, model="no-such-alias")
    assert error.code == "model_access_denied"


def test_a_model_the_team_may_not_use_is_not_found_in_models(client, make_alias):
    make_alias("not-for-them", grouped=False)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("not-for-them")


def test_a_call_the_team_cannot_cover_is_permission_denied(client, team):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    before = ledger_snapshot(team)
    error = refused(client, openai.PermissionDeniedError, max_tokens=500)
    assert error.code == "insufficient_credits"
    assert error.body["message"] == "Team suspended or insufficient credits"
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before


def test_a_suspended_team_is_permission_denied(client, team):
    team_status_set(team=team, status=TeamStatus.SUSPENDED, actor="tests")
    before = ledger_snapshot(team)
    error = refused(client, openai.PermissionDeniedError)
    assert error.code == "team_suspended"
    assert not Job.objects.exists()
    assert ledger_snapshot(team) == before


def test_an_unknown_job_id_is_not_found(client, team):
    before = ledger_snapshot(team)
    for job_id in ("7d1f6c3e-0000-4000-8000-000000000000", "not-a-uuid"):
        error = refused(
            client, openai.NotFoundError, extra_headers={"X-Job-Id": job_id}
        )
        assert error.type == "not_found_error"
        assert error.code == "not_found"
    assert ledger_snapshot(team) == before


def test_another_teams_job_id_is_not_found(client, other_team, team):
    theirs = services.job_create(team=other_team, job_type="theirs")
    before = ledger_snapshot(team)
    refused(
        client, openai.NotFoundError, extra_headers={"X-Job-Id": str(theirs.job_id)}
    )
    assert not theirs.calls.exists()
    assert ledger_snapshot(team) == before


def test_a_closed_job_id_is_a_conflict(client, team):
    job = services.job_create(team=team, job_type="done")
    services.job_complete(team=team, job_id=str(job.job_id), status="failed")
    before = ledger_snapshot(team)
    error = refused(
        client, openai.ConflictError, extra_headers={"X-Job-Id": str(job.job_id)}
    )
    assert error.status_code == 409
    assert (error.type, error.code) == ("conflict_error", "job_closed")
    assert not job.calls.exists()
    assert ledger_snapshot(team) == before


def test_a_team_over_its_request_rate_gets_a_rate_limit_error(
    client, team, whole_window
):
    team.requests_per_minute = 1
    team.save()
    client.chat.completions.create(**hello())
    before = ledger_snapshot(team)
    error = refused(client, openai.RateLimitError)
    assert error.code == "rate_limited"
    assert error.type == "rate_limit_error"
    assert 1 <= int(error.response.headers["Retry-After"]) <= 60
    assert ledger_snapshot(team) == before


def test_a_failing_provider_is_a_502_internal_server_error(client, make_alias, team):
    make_alias("down", "fake-fail-500")
    before = ledger_snapshot(team)
    error = refused(client, openai.InternalServerError, model="down")
    assert error.status_code == 502
    assert error.body == {
        "message": "LLM call failed",
        "type": "api_error",
        "param": None,
        "code": "provider_error",
        "request_id": error.response.headers["X-Request-Id"],
    }
    assert Job.objects.get().status == JobStatus.FAILED
    assert ledger_snapshot(team) == before


def test_a_stream_whose_provider_fails_first_is_a_502_too(client, make_alias):
    make_alias("down", "fake-fail-500")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**hello(model="down", stream=True))


def test_too_many_choices_is_a_bad_request(client, team):
    error = refused(client, openai.BadRequestError, n=129)
    assert error.body["message"] == "n: must be from 1 to 128"
    assert (error.param, error.type) == ("n", "invalid_request_error")
    assert not Job.objects.exists()


def test_empty_messages_are_a_bad_request(client):
    error = refused(client, openai.BadRequestError, messages=[])
    assert error.param == "messages"
    assert error.body["message"] == "messages: messages must be a non-empty list"


def test_a_refused_request_charges_nothing_and_a_good_one_once(client, team):
    refused(client, openai.BadRequestError, temperature=5)
    client.chat.completions.create(**hello())
    assert account(team).credits_used == 1
    assert LedgerEntry.objects.filter(entry_type="deduction").count() == 1
