"""Shared fixtures: an organization, two teams, a team key and API clients.

Objects with secrets or invariants are built through the real services.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from credits.services import credit_add
from teams.models import Organization, Team
from teams.services import IssuedKey, organization_create, team_create

ADMIN_ACTOR = "tests"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Each test starts with an empty cache (this process's memory in tests): no
    rate-limit counter, deployment health or kept analytics of an earlier one."""
    cache.clear()


@pytest.fixture
def rollups_agree(db) -> Iterator[None]:
    """After the test (before its rows are gone), `rollups_rebuild --check` finds
    the rollups agreeing with the calls, jobs and ledger entries it wrote, or
    fails it: used by the concurrency tests, where rows race for the same rollup."""
    yield
    call_command("rollups_rebuild", "--check", stdout=io.StringIO())


@pytest.fixture
def organization(db) -> Organization:
    return organization_create(
        organization_id="org_acme", name="ACME", actor=ADMIN_ACTOR
    )


@pytest.fixture
def issued_team_key(organization) -> IssuedKey:
    issued = team_create(
        organization=organization, team_id="acme-corp", actor=ADMIN_ACTOR
    )
    credit_add(team=issued.key.team, credits=100, actor=ADMIN_ACTOR)
    return issued


@pytest.fixture
def team(issued_team_key) -> Team:
    return Team.objects.select_related("organization").get(
        pk=issued_team_key.key.team_id
    )


@pytest.fixture
def team_key(issued_team_key) -> str:
    """The plaintext virtual key of `team`."""
    return issued_team_key.plaintext


@pytest.fixture
def other_team_key(organization) -> str:
    issued = team_create(organization=organization, team_id="globex", actor=ADMIN_ACTOR)
    credit_add(team=issued.key.team, credits=100, actor=ADMIN_ACTOR)
    return issued.plaintext


@pytest.fixture
def other_team(other_team_key) -> Team:
    return Team.objects.get(team_id="globex")


@pytest.fixture
def team_client(team_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {team_key}")
    return client


@pytest.fixture
def other_team_client(other_team_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other_team_key}")
    return client


@pytest.fixture
def admin_client_api(db) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_ADMIN_KEY=settings.MASTER_KEY)
    return client


@pytest.fixture
def whole_window() -> None:
    """Start in a rate-limit window with time to spare: per-minute counters are fixed
    one-minute windows, and a test straddling two would see its count reset."""
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


def pytest_collection_modifyitems(config, items) -> None:
    """Skip PostgreSQL-only tests when the suite runs on SQLite."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
