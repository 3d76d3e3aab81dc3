"""The schema tells the truth: schemathesis runs against /api/schema/ as its CLI
would (examples, coverage and fuzzing phases, every check), in process on the ASGI
application the Procfile serves and on PostgreSQL, once with a team key and once
with the admin key, and finds no server error and no answer the schema does not
describe.

The tenant is built through the services; generated ids are mixed with real ones
(schemathesis dictionaries) so that operations reach their objects, not only 404s.
The LLM endpoints answer offline: the alias `demo` uses litellm's mock_response.
No operation is left out: streams are validated event by event (the schema
describes one SSE event). The run is bounded (a few examples per operation) and
seeded, so it is repeatable.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from schemathesis.engine import events

from credits.services import credit_add, team_onboard
from jobs.services import job_create
from saas_litellm.asgi import application
from teams.models import Team
from teams.services import (
    model_access_group_create,
    model_alias_create,
    organization_create,
    provider_credential_create,
    virtual_key_create,
)

ACTOR = "tests"
TEAM_ID = "acme-corp"
ALIAS = "demo"
EXAMPLES_PER_OPERATION = 8
SEED = 20_251_129
CROSS_FIELD_RULES = [
    "teams_keys_create",
    "models_create_create",
    "models_update",
    "usage_export",
    "calls_export",
]
LLM_OPERATIONS = [
    "jobs_llm_call",
    "jobs_llm_call_stream",
    "jobs_create_and_call",
    "jobs_create_and_call_stream",
    "openai_chat_completions",
    "openai_completions",
    "openai_embeddings",
]
# Idempotent writes answer 409 (the same key still running) and 422 (the key was
# used with another body) to valid requests, depending on what was sent before.
IDEMPOTENT_ACCEPTED = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
IDEMPOTENT_OPERATIONS = [
    "teams_create_create",
    "teams_keys_rotate_create",
    "credits_teams_add_create",
    "credits_teams_replenish_create",
    "credits_teams_budget_mode_partial_update",
]


@schemathesis.check
def provider_refusals_only(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance for the LLM endpoints. The provider (here litellm's
    own checks) may refuse a body the schema admits: response_format, tool_choice
    and tool_calls are free-form objects there, and which of OpenAI's parameters a
    model takes depends on the alias. Those refusals are the documented 400s
    provider_rejected_request and unsupported_parameter; any other 400 to a valid
    body is a failure."""
    operation_id = case.operation.definition.raw.get("operationId")
    if (
        operation_id not in LLM_OPERATIONS
        or response.status_code != HTTPStatus.BAD_REQUEST
    ):
        return None
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    body = response.json()
    code = body.get("code") or body.get("error", {}).get("code")
    assert code in ("provider_rejected_request", "unsupported_parameter"), (
        f"Valid body refused: {body}"
    )
    return True


def _config(ids: dict[str, str], headers: dict[str, str]) -> schemathesis.Config:
    bound = {
        "path.team_id": "team_id",
        "query.team_id": "team_id",
        "body.team_id": "team_id",
        "path.organization_id": "organization_id",
        "body.organization_id": "organization_id",
        "path.job_id": "job_id",
        "header.X-Job-Id": "job_id",
        "path.key_id": "key_id",
        "path.alias": "alias",
        "path.model": "alias",
        "body.model": "alias",
        "path.group_name": "group_name",
        "body.access_groups[*]": "group_name",
        "path.credential_id": "credential_id",
    }
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            # One worker thread: the requests run one at a time, in order.
            "workers": 1,
            # A bounded run: no stopping because generating a case was slow.
            "suppress-health-check": ["all"],
            "dictionaries": {name: {"values": [value]} for name, value in ids.items()},
            "parameters": {
                key: {"dictionary": name, "probability": 0.7}
                for key, name in bound.items()
            },
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "database": "none",
                # The API refuses NUL characters anywhere in a body or a query
                # (PostgreSQL cannot store them): a documented 400, not worth
                # generating in every string.
                "allow-x00": False,
                # The caller's key is set by the test; generated ones would only
                # test the 401, which every operation documents.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": {
                # schemathesis's list, and 413: a generated body (a thousand
                # messages and more) can be over the size limit, refused before
                # it is read.
                "negative_data_rejection": {
                    "expected-statuses": [
                        *("400", "401", "403", "404", "405", "406", "409"),
                        *("413", "415", "422", "428", "429", "5xx"),
                    ]
                }
            },
            "operations": [
                {
                    "include-operation-id": IDEMPOTENT_OPERATIONS,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": IDEMPOTENT_ACCEPTED
                        }
                    },
                },
                {
                    # Replaced by provider_refusals_only below.
                    "include-operation-id": LLM_OPERATIONS,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                },
                {
                    # Rules JSON Schema cannot state, answered with a documented 400:
                    # a key's expires_at must be in the future, an alias may not
                    # name itself among its fallbacks, and an export's end is not
                    # before its start nor more than 366 days after.
                    "include-operation-id": CROSS_FIELD_RULES,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "404", "409"]
                        }
                    },
                },
                {
                    # The same period rule on a team's export, which answers a 403
                    # to a team key naming another team.
                    "include-operation-id": [
                        "teams_usage_export",
                        "teams_calls_export",
                    ],
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "403", "404"]
                        }
                    },
                },
            ],
        }
    )


@pytest.fixture
def tenant(db) -> dict[str, str]:
    """An organization, a team with credits, an offline alias it may use, an open
    job, a spare key (rotated and revoked by the fuzzer instead of the team's
    key) and a provider credential."""
    organization = organization_create(
        organization_id="org_acme", name="ACME", actor=ACTOR
    )
    group = model_access_group_create(actor=ACTOR, group_name="gpt-models")
    model_alias_create(
        actor=ACTOR,
        model_alias=ALIAS,
        provider="openai",
        actual_model="openai/gpt-4o-mini",
        mock_response="Hello from the schema test.",
        access_groups=[group.group_name],
    )
    onboarded = team_onboard(
        organization_id=organization.organization_id,
        team_id=TEAM_ID,
        access_groups=[group.group_name],
        actor=ACTOR,
    )
    team = Team.objects.get(pk=onboarded.team.pk)
    credit_add(team=team, credits=100_000, actor=ACTOR)
    spare = virtual_key_create(team=team, name="spare", actor=ACTOR)
    credential = provider_credential_create(
        actor=ACTOR,
        organization=organization,
        provider="openai",
        credential_name="fake-openai",
        api_key="sk-fake-provider-secret",
    )
    job = job_create(team=team, job_type="schema-test")
    return {
        "team_key": onboarded.issued.plaintext,
        "team_id": TEAM_ID,
        "organization_id": organization.organization_id,
        "job_id": str(job.job_id),
        "key_id": str(spare.key.key_id),
        "alias": ALIAS,
        "group_name": group.group_name,
        "credential_id": str(credential.credential_id),
    }


# Each caller fuzzes the operations its key opens; with the other kind of key every
# operation answers its documented 401, which the generated cases would only repeat.
CALLERS = {"team key": "VirtualKey", "admin key": "AdminKey"}


def _headers(caller: str, tenant: dict[str, str]) -> dict[str, str]:
    if caller == "team key":
        return {"Authorization": f"Bearer {tenant['team_key']}"}
    return {"X-Admin-Key": settings.MASTER_KEY}


def _opened_by(context: Any, scheme: str) -> bool:
    security = context.operation.definition.raw.get("security", [])
    return any(scheme in requirement for requirement in security)


def _run(schema: Any) -> tuple[int, int, list[str]]:
    """Run schemathesis as its CLI would (examples, coverage and fuzzing phases):
    the operations tested, the requests sent and one line per distinct failure."""
    operations, requests, failures = set(), 0, set()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            failures.add(f"error {event.label}: {event.value!r}")
        if not isinstance(event, events.ScenarioFinished) or event.label is None:
            continue
        if event.recorder.interactions:
            operations.add(event.label)
        requests += len(event.recorder.interactions)
        for case_id, checks in event.recorder.checks.items():
            interaction = event.recorder.interactions.get(case_id)
            response = interaction.response if interaction is not None else None
            answered = response.status_code if response is not None else "none"
            for check in checks:
                if check.failure_info is not None:
                    failure = check.failure_info.failure
                    failures.add(
                        f"{failure.code} {event.label}: {failure.title}"
                        f" (answered {answered})\n"
                        f"  {failure.message.strip()[:300]}\n"
                        f"  {check.failure_info.code_sample[:600]}"
                    )
    return len(operations), requests, sorted(failures)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_as_the_schema_says(tenant, caller, record_property):
    ids = {name: value for name, value in tenant.items() if name != "team_key"}
    schema = schemathesis.openapi.from_asgi(
        "/api/schema/", application, config=_config(ids, _headers(caller, tenant))
    ).exclude(func=lambda context: not _opened_by(context, CALLERS[caller]))
    operations, requests, failures = _run(schema)
    record_property("operations", operations)
    record_property("requests", requests)
    assert operations > 0
    assert failures == [], f"{len(failures)} failures in {requests} requests:\n" + (
        "\n".join(failures)
    )
