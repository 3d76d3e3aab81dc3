"""Fixtures of the credits tests: funded teams built through the services."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from credits.services import credit_add
from teams.models import Organization, Team
from teams.services import team_create


@pytest.fixture
def make_team(organization: Organization) -> Callable[..., Team]:
    """Create a team through the services, funded with `credits` (0 = no entry)."""

    def make(credits: int = 0, team_id: str | None = None, **fields) -> Team:
        team_id = team_id or f"t-{uuid.uuid4().hex[:12]}"
        team = team_create(
            organization=organization, team_id=team_id, actor="tests", **fields
        ).key.team
        if credits:
            credit_add(team=team, credits=credits, actor="tests")
        return team

    return make
