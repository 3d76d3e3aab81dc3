"""GET /api/calls/export and /api/teams/{id}/calls/export: the request log of a
period, one row per call, streamed; a team's own has no costs, models or
deployments."""

from __future__ import annotations

import csv
import io
import json
from http import HTTPStatus

import pytest
from django.utils import timezone

from jobs.models import LLMCall
from usage.tests.conftest import chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(team_client, mock_alias, failing_alias):
    assert chat(team_client, user="u-1").status_code == HTTPStatus.OK
    chat(team_client, model="broken")
    return LLMCall.objects.order_by("created_at", "id")


def period() -> dict[str, str]:
    today = timezone.now().date().isoformat()
    return {"start": today, "end": today}


def rows_of(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_operator_exports_every_call_with_its_costs(admin_client_api, calls, team):
    response = admin_client_api.get("/api/calls/export", period())
    assert response.status_code == HTTPStatus.OK
    rows = rows_of(response)
    assert [row["call_id"] for row in rows] == [str(c.call_id) for c in calls]
    first = rows[0]
    assert first["key_id"] == str(team.keys.get().key_id)
    assert (first["user_id"], first["status"]) == ("u-1", "succeeded")
    assert first["provider_cost_usd"] == format(calls[0].provider_cost_usd, "f")
    assert rows[1]["status"] == "failed"


def test_a_team_exports_its_own_calls_without_costs_as_json_lines(
    team_client, calls, other_team_client
):
    response = team_client.get(
        "/api/teams/acme-corp/calls/export", {**period(), "format": "jsonl"}
    )
    lines = [json.loads(line) for line in b"".join(response.streaming_content).split()]
    assert len(lines) == 2
    assert not {"provider_cost_usd", "model_used", "deployment"} & set(lines[0])
    refused = other_team_client.get("/api/teams/acme-corp/calls/export", period())
    assert refused.status_code == HTTPStatus.FORBIDDEN


def test_a_bad_period_is_a_400(admin_client_api):
    response = admin_client_api.get(
        "/api/calls/export", {"start": "2026-01-02", "end": "2026-01-01"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_calls_are_read_a_batch_at_a_time_each_once_in_order(
    admin_client_api, calls, team_client, monkeypatch
):
    """Batches of 2 over 7 calls, three of them at the same instant: every call once,
    oldest first (the batches resume at (created_at, id))."""
    for _ in range(5):
        chat(team_client)
    same_moment = LLMCall.objects.order_by("created_at")[2].created_at
    LLMCall.objects.filter(pk__in=list(calls.values_list("pk", flat=True)[3:5])).update(
        created_at=same_moment
    )
    monkeypatch.setattr("usage.services.exports.EXPORT_BATCH", 2)
    rows = rows_of(admin_client_api.get("/api/calls/export", period()))
    assert [row["call_id"] for row in rows] == [str(c.call_id) for c in calls]
    assert len(rows) == 7
