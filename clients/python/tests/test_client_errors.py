"""Every API error arrives as its typed exception (live server)."""

from __future__ import annotations

import uuid

import pytest
from saas_litellm_client import (
    AuthenticationError,
    ConflictError,
    InsufficientCreditsError,
    JobClosedError,
    ModelAccessDeniedError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    SaasLiteLLMClient,
    TeamMismatchError,
    TeamPausedError,
    TeamSuspendedError,
    ValidationError,
)

from credits.services import credit_add
from teams.services import team_access_groups_set, team_create, team_status_set

# Live-server tests need a transactional database: PostgreSQL only, because the
# ledger's append-only trigger refuses the DELETE that flushes SQLite.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

HELLO = [{"role": "user", "content": "hello"}]
ACTOR = "client-tests"


def client_for(client_args: dict, **changes: object) -> SaasLiteLLMClient:
    return SaasLiteLLMClient(**{**client_args, **changes})


@pytest.mark.parametrize("key", ["sk-" + "f" * 32, "not-a-key"])
async def test_a_bad_key_is_an_authentication_error(client_args, key):
    async with client_for(client_args, virtual_key=key) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.create_job("test")
    assert caught.value.status_code == 401
    assert caught.value.detail == "Invalid or missing API key"


@pytest.fixture
def broke_team_args(client_args, organization) -> dict:
    """A client for a team that has never been given credits."""
    broke = team_create(organization=organization, team_id="broke", actor=ACTOR)
    return {**client_args, "team_id": "broke", "virtual_key": broke.plaintext}


async def test_a_team_without_credits_gets_insufficient_credits(broke_team_args):
    async with client_for(broke_team_args) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.create_job("test")
    assert isinstance(caught.value, PermissionDeniedError)
    assert caught.value.status_code == 403
    assert caught.value.code == "insufficient_credits"
    assert caught.value.detail == "Team suspended or insufficient credits"


@pytest.fixture(params=["suspended", "paused"])
def stopped_status(request, team) -> str:
    team_status_set(team=team, status=request.param, actor=ACTOR)
    return request.param


async def test_a_stopped_team_cannot_work_but_can_read(client_args, stopped_status):
    error = {"suspended": TeamSuspendedError, "paused": TeamPausedError}
    async with client_for(client_args) as client:
        with pytest.raises(error[stopped_status]) as caught:
            await client.create_job("test")
        balance = await client.get_balance()
    assert caught.value.code == f"team_{stopped_status}"
    assert balance.credits_remaining == 100


async def test_an_unavailable_model_is_access_denied(client_args, chat_alias):
    async with client_for(client_args) as client:
        job = await client.create_job("test")
        with pytest.raises(ModelAccessDeniedError) as caught:
            await client.chat(job.job_id, "no-such-model", HELLO)
    assert caught.value.detail == "Team does not have access to the requested model"


async def test_a_key_of_another_team_is_a_team_mismatch(client_args, other_team_key):
    async with client_for(client_args, virtual_key=other_team_key) as client:
        with pytest.raises(TeamMismatchError) as caught:
            await client.create_job("test")
    assert caught.value.detail == "API key does not belong to team 'acme-corp'"


async def test_an_unknown_job_is_not_found(client_args):
    async with client_for(client_args) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_job(uuid.uuid4())
    assert caught.value.status_code == 404


async def test_another_teams_job_is_not_found(client_args, other_team_key):
    args = {**client_args, "team_id": "globex", "virtual_key": other_team_key}
    async with client_for(args) as other, client_for(client_args) as client:
        job = await other.create_job("theirs")
        with pytest.raises(NotFoundError):
            await client.get_job(job.job_id)


async def test_a_call_on_a_closed_job_is_a_conflict(client_args, chat_alias):
    async with client_for(client_args) as client:
        job = await client.create_job("test")
        await client.complete_job(job.job_id)
        with pytest.raises(JobClosedError) as caught:
            await client.chat(job.job_id, chat_alias, HELLO)
    assert isinstance(caught.value, ConflictError)
    assert caught.value.status_code == 409


async def test_an_invalid_request_is_a_validation_error_with_field_errors(
    client_args,
):
    async with client_for(client_args) as client:
        with pytest.raises(ValidationError) as caught:
            await client.create_job("x" * 101)
    assert caught.value.status_code == 400
    assert "job_type" in caught.value.errors


async def test_a_provider_failure_is_a_provider_error_and_is_not_retried(
    client_args, model_aliases
):
    async with client_for(client_args) as client:
        job = await client.create_job("test")
        with pytest.raises(ProviderError) as caught:
            await client.chat(job.job_id, model_aliases["failing"], HELLO)
        completion = await client.complete_job(job.job_id)
    assert caught.value.status_code == 502
    assert caught.value.code == "provider_error"
    assert completion.costs.total_calls == 1
    assert completion.costs.failed_calls == 1


@pytest.fixture
def limited_team_args(client_args, organization, model_aliases, whole_window) -> dict:
    """A client for a funded team allowed one request per minute."""
    limited = team_create(
        organization=organization,
        team_id="limited",
        actor=ACTOR,
        requests_per_minute=1,
    )
    credit_add(team=limited.key.team, credits=10, actor=ACTOR)
    team_access_groups_set(
        team=limited.key.team, group_names=["client-tests"], actor=ACTOR
    )
    return {**client_args, "team_id": "limited", "virtual_key": limited.plaintext}


async def test_a_rate_limited_team_gets_retry_after(limited_team_args, chat_alias):
    async with client_for(limited_team_args, max_retries=0) as client:
        job = await client.create_job("test")
        await client.chat(job.job_id, chat_alias, HELLO)
        with pytest.raises(RateLimitError) as caught:
            await client.chat(job.job_id, chat_alias, HELLO)
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limited"
    assert 1 <= caught.value.retry_after <= 60
