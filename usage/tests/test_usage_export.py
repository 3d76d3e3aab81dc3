"""Usage exports: the rollups of a period, summed per group_by and ordered, streamed
as CSV or JSON lines; a team's export has its rows only and no cost column."""

from __future__ import annotations

import csv
import datetime
import io
import json
from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from teams.services import team_create
from usage import serializers
from usage.services import exports
from usage.tests.conftest import chat
from usage.tests.factories import UsageDailyFactory

pytestmark = pytest.mark.django_db

MARCH = "start=2025-03-01&end=2025-03-31"
DAY_1, DAY_2 = datetime.date(2025, 3, 1), datetime.date(2025, 3, 2)


def body_of(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body_of(response))))


@pytest.fixture
def rollups(team, other_team):
    UsageDailyFactory(team=team, day=DAY_2, model_alias="big", user_id="ann")
    UsageDailyFactory(team=team, day=DAY_1, model_alias="big", user_id="bob")
    UsageDailyFactory(team=team, day=DAY_1, model_alias="small", calls=3, credits=4)
    UsageDailyFactory(team=other_team, day=DAY_1, model_alias="theirs")
    UsageDailyFactory(team=team, day=datetime.date(2025, 4, 1), model_alias="april")


def test_the_operator_gets_every_teams_rows_as_csv_in_order(admin_client_api, rollups):
    response = admin_client_api.get(f"/api/usage/export?{MARCH}")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="usage-all-teams-2025-03-01-2025-03-31.csv"'
    )
    rows = csv_rows(response)
    assert [(r["day"], r["team_id"], r["model_alias"], r["user_id"]) for r in rows] == [
        ("2025-03-01", "acme-corp", "big", "bob"),
        ("2025-03-01", "acme-corp", "small", ""),
        ("2025-03-01", "globex", "theirs", ""),
        ("2025-03-02", "acme-corp", "big", "ann"),
    ]
    assert rows[1]["calls"] == "3"
    assert rows[1]["credits"] == "4"
    assert rows[1]["key_id"] == ""
    assert rows[1]["provider_cost_usd"] == "0.00100000"
    assert rows[1]["client_cost_usd"] == "0.00150000"


@pytest.mark.parametrize("group_by", ["", "team,day,alias", "day,alias,team"])
def test_an_export_read_in_pieces_is_the_one_read_at_once(
    admin_client_api, rollups, organization, monkeypatch, group_by
):
    """Ordered by day or team first, an export is read a day at a time, its first
    day (or, by team first, the period) a range of teams at a time: the same rows
    in the same order as one query gives."""
    for name in ("alpha", "zeta", "mid-team"):
        team = team_create(organization=organization, team_id=name, actor="t").key.team
        UsageDailyFactory(team=team, day=DAY_1, model_alias="big")
        UsageDailyFactory(team=team, day=DAY_2, model_alias="small")
    path = f"/api/usage/export?{MARCH}&group_by={group_by}"
    monkeypatch.setattr(exports, "EXPORT_TEAMS", 10_000)
    at_once = body_of(admin_client_api.get(path))
    monkeypatch.setattr(exports, "EXPORT_TEAMS", 2)
    with CaptureQueriesContext(connection) as queries:
        in_pieces = body_of(admin_client_api.get(path))
    assert in_pieces == at_once
    assert len(at_once.splitlines()) == 1 + 10  # the header and ten groups
    pieces = [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert (
        len(pieces) == {"": 3 + 30, "team,day,alias": 3, "day,alias,team": 31}[group_by]
    )


def test_rows_are_summed_per_the_columns_asked_for(admin_client_api, rollups):
    response = admin_client_api.get(
        f"/api/usage/export?{MARCH}&group_by=alias,team&format=jsonl"
    )
    assert response["Content-Type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in body_of(response).splitlines()]
    assert [(r["model_alias"], r["team_id"], r["calls"]) for r in rows] == [
        ("big", "acme-corp", 4),
        ("small", "acme-corp", 3),
        ("theirs", "globex", 2),
    ]
    assert list(rows[0]) == [
        "model_alias", "team_id", "calls", "failed_calls", "prompt_tokens",
        "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens",
        "credits", "provider_cost_usd", "client_cost_usd",
    ]  # fmt: skip
    assert rows[0]["provider_cost_usd"] == "0.00200000"


def test_a_team_exports_its_own_rows_without_costs(team_client, rollups):
    response = team_client.get(f"/api/teams/acme-corp/usage/export?{MARCH}")
    assert response.status_code == HTTPStatus.OK
    assert "usage-acme-corp-2025-03-01" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert {row["team_id"] for row in rows} == {"acme-corp"}
    assert len(rows) == 3
    assert not {"provider_cost_usd", "client_cost_usd"} & set(rows[0])


def test_a_teams_jsonl_export_has_no_cost_either(team_client, rollups):
    response = team_client.get(
        f"/api/teams/acme-corp/usage/export?{MARCH}&format=jsonl&group_by=day"
    )
    rows = [json.loads(line) for line in body_of(response).splitlines()]
    assert [(row["day"], row["calls"]) for row in rows] == [
        ("2025-03-01", 5),
        ("2025-03-02", 2),
    ]
    assert not any("cost" in column for row in rows for column in row)


def test_the_operator_gets_a_teams_export_with_costs(admin_client_api, rollups):
    response = admin_client_api.get(
        f"/api/teams/globex/usage/export?{MARCH}&group_by=team"
    )
    assert csv_rows(response) == [
        {
            "team_id": "globex", "calls": "2", "failed_calls": "0",
            "prompt_tokens": "10", "completion_tokens": "5", "total_tokens": "15",
            "cached_tokens": "0", "reasoning_tokens": "0", "credits": "1",
            "provider_cost_usd": "0.00100000", "client_cost_usd": "0.00150000",
        }
    ]  # fmt: skip


def test_another_teams_export_is_403(other_team_client, rollups):
    response = other_team_client.get(f"/api/teams/acme-corp/usage/export?{MARCH}")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "team_mismatch"


def test_a_team_key_cannot_use_the_operators_export(team_client, rollups):
    response = team_client.get(f"/api/usage/export?{MARCH}")
    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_an_empty_period_is_a_header_line(admin_client_api, rollups):
    response = admin_client_api.get(
        "/api/usage/export?start=2024-01-01&end=2024-01-31&group_by=day,user"
    )
    assert body_of(response) == (
        "day,user_id,calls,failed_calls,prompt_tokens,completion_tokens,"
        "total_tokens,cached_tokens,reasoning_tokens,credits,provider_cost_usd,"
        "client_cost_usd\n"
    )


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("start=2025-03-02&end=2025-03-01", "end"),
        ("start=2024-01-01&end=2025-01-01", "end"),
        (f"{MARCH}&group_by=day,model", "group_by"),
        (f"{MARCH}&format=xlsx", "format"),
        ("end=2025-03-01", "start"),
        ("start=2025-02-30&end=2025-03-01", "start"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(admin_client_api, query, param):
    response = admin_client_api.get(f"/api/usage/export?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert list(body["errors"]) == [param]
    assert body["detail"].startswith(f"Invalid request: {param}")


def test_a_full_leap_year_is_not_too_long(admin_client_api):
    response = admin_client_api.get("/api/usage/export?start=2024-01-01&end=2024-12-31")
    assert response.status_code == HTTPStatus.OK


def test_a_teams_bad_parameters_are_a_400_too(team_client, team):
    response = team_client.get("/api/teams/acme-corp/usage/export?start=x&end=y")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["errors"]) == {"start", "end"}


def test_an_accept_header_does_not_refuse_the_export(admin_client_api, rollups):
    response = admin_client_api.get(
        f"/api/usage/export?{MARCH}", HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == HTTPStatus.OK


def test_real_calls_are_exported(team_client, mock_alias):
    chat(team_client, user="carol")
    today = timezone.now().date().isoformat()
    response = team_client.get(
        f"/api/teams/acme-corp/usage/export?start={today}&end={today}&group_by=user"
    )
    (row,) = csv_rows(response)
    assert (row["user_id"], row["calls"], row["credits"]) == ("carol", "1", "1")
    assert int(row["total_tokens"]) > 0


def test_the_export_streams_under_asgi(rollups):
    async def fetch() -> tuple[int, str, str]:
        response = await AsyncClient().get(
            f"/api/usage/export?{MARCH}&format=jsonl",
            headers={"X-Admin-Key": settings.MASTER_KEY},
        )
        parts = [part async for part in response.streaming_content]
        return response.status_code, response["Content-Type"], b"".join(parts).decode()

    status, content_type, body = async_to_sync(fetch)()
    assert (status, content_type) == (HTTPStatus.OK, "application/x-ndjson")
    assert len(body.splitlines()) == 4


@pytest.mark.parametrize(("export_format", "first"), [("csv", 2), ("jsonl", 1)])
def test_the_first_row_goes_out_alone_then_hundreds_at_a_time(export_format, first):
    """The client gets data as soon as the first row is read; later writes are
    large."""
    rows = ({"n": n} for n in range(serializers.ROWS_PER_CHUNK + 10))
    chunks = list(serializers.export_encoded(export_format, ["n"], rows))
    # The rest: 510 rows and a CSV header, less the two first chunks.
    assert [chunk.count("\n") for chunk in chunks] == [
        first,
        serializers.ROWS_PER_CHUNK,
        9,
    ]
