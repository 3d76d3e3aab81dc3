"""Key and end-user budgets: the key reads its own budget, and a spent budget is a
typed, unretried 403 on both the /api and the /v1 endpoints (live server)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from saas_litellm_client import (
    BudgetExceededError,
    KeyBudget,
    KeyBudgetExceededError,
    KeyInfo,
    PermissionDeniedError,
    RetryPolicy,
    SaasLiteLLMClient,
    SaasLiteLLMSyncClient,
    UserBudgetExceededError,
)

from credits.services import budget_set
from teams.services import IssuedKey

# PostgreSQL only: see test_client_jobs.py.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.anyio,
]

HELLO = [{"role": "user", "content": "hello"}]
ACTOR = "tests"
DAY = 24 * 60 * 60


def client_for(client_args: dict, **changes: object) -> SaasLiteLLMClient:
    return SaasLiteLLMClient(**{**client_args, **changes})


class RequestCounter:
    """An httpx request hook counting what the client really sends (the server is
    the real one; this only proves whether a refusal was retried)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)


# --- get_key_info -----------------------------------------------------------------


def test_the_sync_client_reads_its_key_before_and_after_a_budget(
    client_args, issued_team_key: IssuedKey
):
    key = issued_team_key.key
    with SaasLiteLLMSyncClient(**client_args) as client:
        before = client.get_key_info()
        budget_set(team=key.team, key=key, credits=3, period="day", actor=ACTOR)
        after = client.get_key_info()
    assert isinstance(before, KeyInfo)
    assert before.key_id == str(key.key_id)
    assert before.name == key.name == "default"
    assert before.key_prefix == key.key_prefix
    assert before.key_prefix != issued_team_key.plaintext  # a masked form
    assert before.team_id == "acme-corp"
    assert before.expires_at is None
    assert before.budget is None
    assert after.key_id == before.key_id
    assert isinstance(after.budget, KeyBudget)
    assert after.budget.credits == 3
    assert after.budget.period == "day"
    assert after.budget.spent == 0
    assert after.budget.remaining == 3
    assert after.budget.resets_at is not None
    assert after.budget.resets_at.utcoffset() is not None
    # The plaintext key is never sent back.
    assert issued_team_key.plaintext not in after.model_dump_json()


@pytest.fixture
def key_budget(issued_team_key: IssuedKey) -> IssuedKey:
    """The team's key, with a budget of 3 credits a day."""
    key = issued_team_key.key
    budget_set(team=key.team, key=key, credits=3, period="day", actor=ACTOR)
    return issued_team_key


async def test_the_async_client_reads_its_key_and_the_budget_spent(
    client_args, key_budget, chat_alias
):
    async with client_for(client_args) as client:
        before = await client.get_key_info()
        answer = await client.respond(chat_alias, "hello")
        after = await client.get_key_info()
    assert before.key_id == str(key_budget.key.key_id)
    assert before.name == "default"
    assert before.team_id == "acme-corp"
    assert before.budget == KeyBudget(
        credits=3,
        period="day",
        spent=0,
        remaining=3,
        resets_at=before.budget.resets_at,
    )
    assert answer.credits.charged == 1
    assert (after.budget.spent, after.budget.remaining) == (1, 2)


# --- Key budget refusals ----------------------------------------------------------


@pytest.fixture
def one_credit_key(issued_team_key: IssuedKey, model_aliases, whole_window) -> str:
    """The team's key, allowed one credit a day (the team has 100)."""
    key = issued_team_key.key
    budget_set(team=key.team, key=key, credits=1, period="day", actor=ACTOR)
    return issued_team_key.plaintext


def assert_key_budget_refusal(error: BudgetExceededError) -> None:
    assert isinstance(error, KeyBudgetExceededError)
    assert isinstance(error, PermissionDeniedError)
    assert error.status_code == 403
    assert error.code == "key_budget_exceeded"
    assert error.detail == "Key budget exceeded"
    assert isinstance(error.retry_after, int)
    assert 1 <= error.retry_after <= DAY


async def test_a_spent_key_budget_refuses_the_next_call(
    client_args, one_credit_key, chat_alias
):
    async with client_for(client_args) as client:
        first = await client.respond(chat_alias, "hello")
        with pytest.raises(KeyBudgetExceededError) as on_v1:
            await client.respond(chat_alias, "again")
        with pytest.raises(KeyBudgetExceededError) as on_api:
            await client.create_job("test")
        balance = await client.get_balance()
        info = await client.get_key_info()
    assert first.output_text == "Echo: hello"
    assert first.credits.charged == 1
    assert_key_budget_refusal(on_v1.value)  # OpenAI's {"error": {…}} body
    assert on_v1.value.body["error"]["code"] == "key_budget_exceeded"
    assert_key_budget_refusal(on_api.value)  # the /api {"detail", "code"} body
    assert on_api.value.body["code"] == "key_budget_exceeded"
    # The team still has credits: only the key's budget is spent.
    assert balance.credits_remaining == 99
    assert (info.budget.spent, info.budget.remaining) == (1, 0)


def test_the_sync_client_raises_the_same_key_budget_error(
    client_args, one_credit_key, chat_alias
):
    with SaasLiteLLMSyncClient(**client_args) as client:
        job = client.create_job("test")  # reserves the key's only credit
        answer = client.chat(job, chat_alias, HELLO)
        client.complete_job(job)
        with pytest.raises(KeyBudgetExceededError) as caught:
            client.create_job("test")
    assert answer.content == "Echo: hello"
    assert_key_budget_refusal(caught.value)


async def test_a_budget_refusal_is_not_retried(client_args, one_credit_key, chat_alias):
    counter = RequestCounter()
    http = httpx.AsyncClient(event_hooks={"request": [counter]})
    async with http, client_for(client_args, http_client=http) as client:
        await client.respond(chat_alias, "hello")
        with pytest.raises(KeyBudgetExceededError):
            await client.respond(chat_alias, "again")
    # max_retries is 2 by default: the refusal was sent once, not retried.
    assert counter.paths == ["/v1/responses", "/v1/responses"]


def test_the_retry_policy_never_retries_a_budget_refusal():
    policy = RetryPolicy(max_retries=5)
    for refused in (
        KeyBudgetExceededError("Key budget exceeded", retry_after=5, status_code=403),
        UserBudgetExceededError("End-user budget exceeded", status_code=403),
    ):
        for idempotent in (True, False):
            assert (
                policy.delay_after_error(refused, attempt=0, idempotent=idempotent)
                is None
            )


# --- End-user budget refusals -----------------------------------------------------


@pytest.fixture
def end_user(team, model_aliases, whole_window) -> str:
    """An end user of the team allowed one credit for all time (no period)."""
    user_id = f"user-{uuid.uuid4().hex[:8]}"
    budget_set(team=team, user_id=user_id, credits=1, period=None, actor=ACTOR)
    return user_id


def assert_user_budget_refusal(error: BudgetExceededError) -> None:
    assert isinstance(error, UserBudgetExceededError)
    assert not isinstance(error, KeyBudgetExceededError)
    assert error.status_code == 403
    assert error.code == "user_budget_exceeded"
    assert error.detail == "End-user budget exceeded"
    # A budget without a period does not reset: no Retry-After.
    assert error.retry_after is None


async def test_a_spent_end_user_budget_refuses_that_user_only(
    client_args, end_user, chat_alias
):
    async with client_for(client_args) as client:
        job = await client.create_job("test", user_id=end_user)  # its only credit
        with pytest.raises(UserBudgetExceededError) as on_api:
            await client.create_job("test", user_id=end_user)
        with pytest.raises(UserBudgetExceededError) as on_v1:
            await client.respond(chat_alias, "hello", user=end_user)
        other = await client.respond(chat_alias, "hello", user="someone-else")
        anonymous = await client.create_job("test")
        await client.complete_job(job)
    assert_user_budget_refusal(on_api.value)
    assert_user_budget_refusal(on_v1.value)
    assert on_v1.value.body["error"]["code"] == "user_budget_exceeded"
    assert other.output_text == "Echo: hello"
    assert anonymous.status == "pending"


def test_the_sync_client_raises_the_same_user_budget_error(
    client_args, end_user, chat_alias
):
    with SaasLiteLLMSyncClient(**client_args) as client:
        first = client.respond(chat_alias, "hello", user=end_user)
        with pytest.raises(UserBudgetExceededError) as caught:
            client.respond(chat_alias, "again", user=end_user)
    assert first.credits.charged == 1
    assert_user_budget_refusal(caught.value)
