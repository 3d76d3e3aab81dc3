"""Fixtures for the client's tests: live servers, a fake provider and model aliases.

The live tests run the real Django server in a thread of the test process:
pytest-django's `live_server` (WSGI) for plain requests, and the ASGI application
under uvicorn (what production runs, see gunicorn.conf.py) for streams, which the
server produces from async iterators that only an ASGI server streams as they come.
LLM calls go through litellm to the fake OpenAI-compatible provider of
`jobs.fake_provider` on 127.0.0.1, or to litellm's `mock_response`.
Async tests must not touch the ORM: set data up in (sync) fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from jobs.fake_provider import FakeProvider, fake_provider_start
from jobs.tests.live import asgi_served, free_port
from teams.models import Team
from teams.services import (
    model_access_group_create,
    model_alias_create,
    provider_credential_create,
    team_access_groups_set,
)

ACTOR = "client-tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    provider = fake_provider_start(port=free_port())
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def asgi_server(django_db_setup: None) -> Iterator[str]:
    """The project's ASGI application served by uvicorn from a thread; its URL."""
    with asgi_served() as url:
        yield url


@pytest.fixture
def model_aliases(team: Team, fake_provider: FakeProvider) -> dict[str, str]:
    """Aliases the team may use: one echoing, one whose provider fails, one whose
    stream breaks, one answering plain text (litellm's mock_response) whatever it is
    asked."""
    cache.clear()  # rate-limit counters of earlier tests
    provider_credential_create(
        actor=ACTOR,
        provider="openai",
        credential_name="client-fake-openai",
        api_key="sk-fake-provider-key",
        organization=team.organization,
    )
    api_base = fake_provider.api_base
    aliases = {
        "chat": {"actual_model": "openai/fake-echo", "api_base": api_base},
        "failing": {"actual_model": "openai/fake-fail-500", "api_base": api_base},
        "breaking": {"actual_model": "openai/fake-break-stream", "api_base": api_base},
        "not_json": {
            "actual_model": "openai/gpt-4o-mini",
            "mock_response": "Sorry, no JSON today.",
        },
    }
    names = {key: f"client-{key.replace('_', '-')}" for key in aliases}
    for key, fields in aliases.items():
        model_alias_create(
            actor=ACTOR, model_alias=names[key], provider="openai", **fields
        )
    model_access_group_create(
        actor=ACTOR, group_name="client-tests", model_aliases=list(names.values())
    )
    team_access_groups_set(team=team, group_names=["client-tests"], actor=ACTOR)
    return names


@pytest.fixture
def chat_alias(model_aliases: dict[str, str]) -> str:
    return model_aliases["chat"]


@pytest.fixture
def client_args(live_server: Any, team_key: str) -> dict[str, Any]:
    """Constructor arguments of a client acting for the `team` fixture's team."""
    return {
        "base_url": live_server.url,
        "team_id": "acme-corp",
        "virtual_key": team_key,
        "timeout": 20.0,
        "retry_backoff": 0.01,
    }


@pytest.fixture
def asgi_client_args(asgi_server: str, team_key: str) -> dict[str, Any]:
    """The same, talking to the ASGI server (needed for streams)."""
    return {
        "base_url": asgi_server,
        "team_id": "acme-corp",
        "virtual_key": team_key,
        "timeout": 20.0,
        "retry_backoff": 0.01,
    }
