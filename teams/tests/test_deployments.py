"""An alias's deployments in the catalogue API and the admin (teams/services/
catalogue.py): the top-level fields are the first deployment, `deployments` all of
them; routing itself is jobs/tests/test_routing.py's."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.urls import reverse

from teams.models import AuditLog, Deployment, ModelAccessGroup, ModelAlias
from teams.services import provider_credential_create

pytestmark = pytest.mark.django_db

TWO = [
    {"actual_model": "openai/gpt-4o-mini", "weight": 3, "rpm": 100},
    {
        "actual_model": "azure/gpt-4o-mini",
        "api_base": "https://eu.example.com/v1",
        "weight": 1,
        "pricing_input": "0.5",
        "pricing_output": "2",
    },
]


def create(client, **fields):
    body = {"model_alias": "pool", "provider": "openai", **fields}
    return client.post("/api/models/create", body, format="json")


def test_an_alias_is_created_with_its_deployments(admin_client_api):
    response = create(admin_client_api, deployments=TWO, routing_strategy="least_busy")
    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    assert body["actual_model"] == "openai/gpt-4o-mini"  # the first deployment
    assert body["routing_strategy"] == "least_busy"
    assert [d["position"] for d in body["deployments"]] == [0, 1]
    assert body["deployments"][0]["weight"] == 3
    assert body["deployments"][0]["rpm"] == 100
    assert body["deployments"][1]["api_base"] == "https://eu.example.com/v1"
    assert body["deployments"][1]["pricing_output"] == "2.000000"
    assert Deployment.objects.get().actual_model == "azure/gpt-4o-mini"
    audit = AuditLog.objects.get(action="model_alias.create")
    assert len(audit.after["deployments"]) == 2


def test_top_level_fields_still_mean_one_deployment(admin_client_api):
    response = create(admin_client_api, actual_model="openai/gpt-4o")
    assert response.status_code == HTTPStatus.CREATED
    assert [d["actual_model"] for d in response.json()["deployments"]] == [
        "openai/gpt-4o"
    ]


def test_deployments_and_top_level_fields_together_are_refused(admin_client_api):
    response = create(admin_client_api, actual_model="openai/x", deployments=TWO)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "deployments" in response.json()["errors"]
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize(
    "deployments",
    [[], [{"actual_model": "openai/x", "weight": 0}], [{"weight": 2}], "x"],
)
def test_bad_deployments_are_400s(admin_client_api, deployments):
    response = create(admin_client_api, deployments=deployments)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "deployments" in response.json()["errors"]


def test_an_update_replaces_the_deployments(admin_client_api):
    create(admin_client_api, deployments=TWO)
    response = admin_client_api.put(
        "/api/models/pool",
        {"deployments": [{"actual_model": "openai/gpt-4.1"}]},
        format="json",
    )
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert [d["actual_model"] for d in body["deployments"]] == ["openai/gpt-4.1"]
    assert body["deployments"][0]["weight"] == 1  # not the old first's 3
    assert not Deployment.objects.exists()
    audit = AuditLog.objects.get(action="model_alias.update")
    assert len(audit.before["deployments"]) == 2


def test_the_context_window_fallback_must_be_another_known_alias(admin_client_api):
    unknown = create(
        admin_client_api, actual_model="openai/x", context_window_fallback="nope"
    )
    assert unknown.status_code == HTTPStatus.NOT_FOUND
    create(admin_client_api, actual_model="openai/x")
    itself = admin_client_api.put(
        "/api/models/pool", {"context_window_fallback": "pool"}, format="json"
    )
    assert itself.status_code == HTTPStatus.BAD_REQUEST


def test_an_alias_named_as_a_context_window_fallback_is_not_deleted(admin_client_api):
    admin_client_api.post(
        "/api/models/create",
        {"model_alias": "big", "provider": "openai", "actual_model": "openai/x"},
        format="json",
    )
    create(admin_client_api, actual_model="openai/gpt-4", context_window_fallback="big")
    response = admin_client_api.delete("/api/models/big")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "model_alias_in_use"


def test_a_credential_used_by_a_further_deployment_is_not_deleted(admin_client_api):
    credential = provider_credential_create(
        actor="tests", provider="azure", credential_name="eu", api_key="sk-eu"
    )
    create(admin_client_api, deployments=[TWO[0], {**TWO[1], "credential": "eu"}])
    response = admin_client_api.delete(
        f"/api/provider-credentials/{credential.credential_id}"
    )
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["code"] == "credential_in_use"
    assert "pool" in response.json()["detail"]


def test_a_team_sees_no_deployment(admin_client_api, team_client, team):
    access_group = ModelAccessGroup.objects.create(group_name="gpt-models")
    create(admin_client_api, deployments=TWO, access_groups=["gpt-models"])
    team.access_groups.add(access_group)
    body = team_client.get("/api/models").json()
    assert "deployments" not in str(body)
    assert "azure" not in str(body)


def inline(rows: list[dict[str, str]]) -> dict[str, str]:
    form = {
        "deployments-TOTAL_FORMS": str(len(rows)),
        "deployments-INITIAL_FORMS": "0",
        "deployments-MIN_NUM_FORMS": "0",
        "deployments-MAX_NUM_FORMS": "1000",
    }
    for number, row in enumerate(rows):
        for name, value in row.items():
            form[f"deployments-{number}-{name}"] = value
    return form


def test_the_admin_saves_an_alias_and_its_deployments_through_the_service(
    superuser_client,
):
    response = superuser_client.post(
        reverse("admin:teams_modelalias_add"),
        {
            "model_alias": "pool",
            "provider": "openai",
            "actual_model": "openai/gpt-4o-mini",
            "fallbacks": "[]",
            "is_active": "on",
            "weight": "2",
            "routing_strategy": "lowest_latency",
            **inline([{"actual_model": "openai/gpt-4o", "weight": "1"}]),
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.content[-3000:]
    alias = ModelAlias.objects.get()
    assert (alias.weight, alias.routing_strategy) == (2, "lowest_latency")
    assert list(alias.deployments.values_list("position", "actual_model")) == [
        (1, "openai/gpt-4o")
    ]
    assert AuditLog.objects.filter(action="model_alias.create").count() == 1
    page = superuser_client.get(
        reverse("admin:teams_modelalias_change", args=[alias.pk])
    )
    assert b"Deployments now" in page.content
    assert page.content.count(b"in rotation") == 2
