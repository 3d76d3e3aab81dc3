"""Fixtures of the teams tests: catalogue objects and an operator logged into the
Django admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from teams.models import ModelAccessGroup, Team
from teams.services import IssuedKey, team_create
from teams.tests.factories import ModelAccessGroupFactory, ModelAliasFactory


@pytest.fixture
def gpt_group(db) -> ModelAccessGroup:
    group = ModelAccessGroupFactory(group_name="gpt-models")
    ModelAliasFactory(model_alias="chat-fast", access_groups=[group])
    return group


@pytest.fixture
def issue_team(organization):
    """Create a team through the service; returns its IssuedKey."""

    def issue(team_id: str, **kwargs) -> IssuedKey:
        return team_create(
            organization=organization, team_id=team_id, actor="tests", **kwargs
        )

    return issue


@pytest.fixture
def team_with_groups(issue_team, gpt_group) -> Team:
    return issue_team("with-groups", access_groups=[gpt_group]).key.team


@pytest.fixture
def superuser_client(db) -> Client:
    # No password: hashing one costs a second per test, and force_login needs none.
    user = get_user_model().objects.create_superuser(
        "operator", "operator@example.com", password=None
    )
    client = Client()
    client.force_login(user)
    return client
