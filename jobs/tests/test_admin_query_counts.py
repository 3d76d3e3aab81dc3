"""The dashboard's list pages run the same number of queries for 3 rows as for 9.

Each changelist is opened with N rows of everything, then with 3N, and the query
counts must match: no query per row (N+1) on any list page.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credits.services import credit_add
from jobs.dashboard import dashboard_stats
from jobs.models import CallStatus, LLMCall
from jobs.services import job_create
from teams.models import ModelAccessGroup, ModelAlias, Team
from teams.services import (
    organization_create,
    provider_credential_create,
    team_create,
)

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "teams_organization",
    "teams_team",
    "teams_virtualkey",
    "teams_modelalias",
    "teams_modelaccessgroup",
    "teams_providercredential",
    "teams_auditlog",
    "jobs_job",
    "jobs_llmcall",
    "credits_ledgerentry",
    "credits_creditaccount",
    "credits_credithold",
]
_serial = itertools.count()


def rows_add(count: int) -> None:
    """`count` more of every kind of row the dashboard lists, made by the services."""
    for _ in range(count):
        n = next(_serial)
        organization = organization_create(
            organization_id=f"org-{n}", name=f"Org {n}", actor="tests"
        )
        group = ModelAccessGroup.objects.create(group_name=f"group-{n}")
        credential = provider_credential_create(
            actor="tests",
            organization=organization,
            provider="openai",
            credential_name=f"cred-{n}",
            api_key=f"sk-provider-{n}",
        )
        alias = ModelAlias.objects.create(
            model_alias=f"alias-{n}",
            provider="openai",
            actual_model="openai/gpt-4o-mini",
            credential=credential,
        )
        alias.access_groups.add(group)
        team = team_create(
            organization=organization,
            team_id=f"team-{n}",
            access_groups=[group],
            actor="tests",
        ).key.team
        credit_add(team=team, credits=50, actor="tests")
        job = job_create(team=team, job_type="count")
        LLMCall.objects.create(
            job=job,
            team=team,
            model_alias=alias.model_alias,
            status=CallStatus.SUCCEEDED,
            provider_cost_usd=Decimal("0.01"),
        )


@pytest.fixture
def operator_client(db) -> Client:
    user = get_user_model().objects.create_superuser("operator", "o@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def queries_to_open(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK, url
    return len(queries)


@pytest.mark.parametrize("changelist", CHANGELISTS)
def test_a_list_page_runs_as_many_queries_for_many_rows_as_for_few(
    operator_client, changelist
):
    url = reverse(f"admin:{changelist}_changelist")
    rows_add(3)
    few = queries_to_open(operator_client, url)
    rows_add(6)
    assert queries_to_open(operator_client, url) == few


def test_the_dashboard_home_runs_as_many_queries_for_many_rows_as_for_few(
    operator_client,
):
    url = reverse("admin:index")
    rows_add(3)
    few = queries_to_open(operator_client, url)
    rows_add(6)
    assert queries_to_open(operator_client, url) == few


def test_the_dashboard_numbers_take_a_fixed_handful_of_queries(
    django_assert_max_num_queries,
):
    rows_add(4)
    with django_assert_max_num_queries(10):
        dashboard_stats()


def test_a_team_page_runs_as_many_queries_for_many_jobs_as_for_few(operator_client):
    rows_add(1)
    team = Team.objects.get()
    url = reverse("admin:teams_team_change", args=[team.pk])
    operator_client.get(url)  # the first page of a session also saves the session
    few = queries_to_open(operator_client, url)
    credit_add(team=team, credits=50, actor="tests")
    for _ in range(6):
        job_create(team=team, job_type="more")
    assert queries_to_open(operator_client, url) == few
