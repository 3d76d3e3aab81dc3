"""Fixtures of the jobs tests: the fake provider, a catalogue pointing at it, helpers.

The fake provider runs once per session in a thread on 127.0.0.1; every alias below
reaches it through the real litellm code path.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.test import AsyncClient
from rest_framework.test import APIClient

from credits.models import CreditAccount, LedgerEntry
from jobs.fake_provider import FakeBehaviour, FakeProvider, fake_provider_start
from jobs.tests.live import asgi_served, free_port
from teams.models import ModelAccessGroup, ModelAlias, ProviderCredential, Team
from teams.services import provider_credential_create


@pytest.fixture(scope="session")
def fake_provider_server() -> FakeProvider:
    provider = fake_provider_start(port=free_port())
    yield provider
    provider.stop()


@pytest.fixture
def fake_provider(fake_provider_server, settings) -> FakeProvider:
    """The session's provider with default behaviour and short timeouts."""
    fake_provider_server.state.behaviour = FakeBehaviour(timeout_sleep=3.0)
    settings.LLM_TIMEOUT_SECONDS = 1.0
    cache.clear()
    return fake_provider_server


@pytest.fixture
def provider_credential(organization) -> ProviderCredential:
    return provider_credential_create(
        actor="tests",
        organization=organization,
        provider="openai",
        credential_name="fake-openai",
        api_key="sk-fake-provider-secret",
    )


@pytest.fixture
def access_group(db) -> ModelAccessGroup:
    return ModelAccessGroup.objects.create(group_name="gpt-models")


@pytest.fixture
def make_alias(fake_provider, provider_credential, access_group):
    """An alias answered by the fake provider's `behaviour` model, in gpt-models."""

    def make(
        name: str, behaviour: str = "fake-echo", grouped: bool = True, **fields: Any
    ) -> ModelAlias:
        fields.setdefault("api_base", fake_provider.api_base)
        alias = ModelAlias.objects.create(
            model_alias=name,
            provider="openai",
            actual_model=f"openai/{behaviour}",
            **fields,
        )
        if grouped:
            alias.access_groups.add(access_group)
        return alias

    return make


@pytest.fixture
def chat_alias(make_alias, team, access_group) -> ModelAlias:
    """`chat`: the fake provider's echo, usable by `team`."""
    team.access_groups.add(access_group)
    return make_alias("chat")


@pytest.fixture
def job_id(team_client, team, chat_alias) -> str:
    response = team_client.post(
        "/api/jobs/create", {"team_id": team.team_id, "job_type": "test"}, format="json"
    )
    assert response.status_code == HTTPStatus.CREATED
    return response.json()["job_id"]


@pytest.fixture
def stream_post(team_key):
    """POST through Django's AsyncClient and read the whole streamed body, in the one
    event loop that produced it, as an ASGI server does."""

    def post(path: str, body: dict[str, Any], key: str | None = None) -> Any:
        async def run() -> Any:
            response = await AsyncClient().post(
                path,
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {key or team_key}"},
            )
            if response.streaming:
                parts = [part async for part in response.streaming_content]
                response.raw = b"".join(parts)
            else:
                response.raw = response.content
            return response

        return async_to_sync(run)()

    return post


def call_body(**overrides: Any) -> dict[str, Any]:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hello world"}]}
    return {**body, **overrides}


def llm_call(client: APIClient, job_id: str, **overrides: Any) -> Any:
    return client.post(
        f"/api/jobs/{job_id}/llm-call", call_body(**overrides), format="json"
    )


def complete(client: APIClient, job_id: str, status: str = "completed") -> Any:
    return client.post(
        f"/api/jobs/{job_id}/complete", {"status": status}, format="json"
    )


def account(team: Team) -> CreditAccount:
    return CreditAccount.objects.get(team=team)


def ledger_snapshot(team: Team) -> tuple[Any, ...]:
    """Everything about a team's credits that a refused request must leave as is."""
    balance = account(team)
    entries = LedgerEntry.objects.filter(account__team=team).count()
    return (
        balance.credits_allocated,
        balance.credits_used,
        balance.credits_reserved,
        entries,
    )


def sse_events(raw: bytes) -> list[Any]:
    """The data payloads of an SSE body, JSON-decoded (except [DONE])."""
    import json

    events = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def usd(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture(scope="module")
def server(django_db_setup) -> Iterator[str]:
    """The project's ASGI app served once per test module, for the SDK tests."""
    with asgi_served() as url:
        yield url


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[str]:
    """The project's ASGI app served by uvicorn on 127.0.0.1 (a real server, so a
    client can really hang up mid-stream)."""
    with asgi_served() as url:
        yield url
