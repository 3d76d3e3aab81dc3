"""The request log (the LLM-call list) and the other history lists: exact searches,
filters that list no table, no COUNT(*) over a table, and the call page read-only.
The team jobs API's keyset pages (`cursor`)."""

from __future__ import annotations

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import CallStatus, Job, LLMCall
from jobs.services import job_create
from teams.models import Team, VirtualKey
from teams.services import team_create

pytestmark = pytest.mark.django_db
CALLS = "/admin/jobs/llmcall/"


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("operator", "o@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def call_add(team: Team, key: VirtualKey | None = None, **fields) -> LLMCall:
    job = job_create(team=team, job_type="log", key=key)
    fields = {"model_alias": "demo", "status": CallStatus.SUCCEEDED, **fields}
    return LLMCall.objects.create(job=job, team=team, **fields)


def listed(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK, url
    return response.content.decode()


def test_a_call_id_or_job_id_finds_exactly_its_calls(operator, team):
    wanted, other = call_add(team), call_add(team)
    assert f"{wanted.pk}/change/" in listed(operator, f"{CALLS}?q={wanted.call_id}")
    page = listed(operator, f"{CALLS}?q={wanted.job.job_id}")
    assert f"{wanted.pk}/change/" in page
    assert f"{other.pk}/change/" not in page


def test_a_search_is_exact_never_a_substring(operator, team):
    call = call_add(team)
    with CaptureQueriesContext(connection) as queries:
        page = listed(operator, f"{CALLS}?q={str(call.call_id)[:8]}")
    assert f"{call.pk}/change/" not in page
    assert not [q for q in queries if "LIKE" in q["sql"].upper()]


def test_a_team_id_searches_that_teams_calls(operator, team, other_team):
    ours, theirs = call_add(team), call_add(other_team)
    page = listed(operator, f"{CALLS}?q={team.team_id}")
    assert f"{ours.pk}/change/" in page
    assert f"{theirs.pk}/change/" not in page


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("status__exact=failed", True),
        ("status__exact=succeeded", False),
        ("streamed__exact=1", True),
        ("model_alias=other", True),
        ("model_alias=demo", False),
    ],
)
def test_the_log_filters_by_status_streamed_and_alias(operator, team, query, found):
    call = call_add(team, status=CallStatus.FAILED, streamed=True)
    LLMCall.objects.filter(pk=call.pk).update(model_alias="other")
    call_add(team)
    page = listed(operator, f"{CALLS}?{query}")
    assert (f"{call.pk}/change/" in page) is found


def test_the_log_filters_by_team_without_listing_every_team(operator, team, other_team):
    ours, theirs = call_add(team), call_add(other_team)
    page = listed(operator, f"{CALLS}?team__id__exact={team.pk}")
    assert f"{ours.pk}/change/" in page
    assert f"{theirs.pk}/change/" not in page
    assert 'class="admin-autocomplete' in page
    # Only the chosen team is an option of the filter.
    assert other_team.team_id not in page


def test_the_log_filters_by_days(operator, team):
    old = call_add(team, created_at=timezone.now() - timedelta(days=40))
    new = call_add(team)
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    page = listed(operator, f"{CALLS}?created_from={since}")
    assert f"{new.pk}/change/" in page
    assert f"{old.pk}/change/" not in page
    until = (timezone.localdate() - timedelta(days=30)).isoformat()
    page = listed(operator, f"{CALLS}?created_to={until}")
    assert f"{old.pk}/change/" in page
    assert f"{new.pk}/change/" not in page


def test_a_filters_form_keeps_the_other_filters_whole(operator, team):
    """The days' and the team's forms carry the list's other parameters as hidden
    fields: each value whole (a team id 129 stays 129, not 1, 2 and 9)."""
    page = listed(operator, f"{CALLS}?status__exact=failed&team__id__exact={team.pk}0")
    kept = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    assert ("status__exact", "failed") in kept
    assert ("team__id__exact", f"{team.pk}0") in kept
    assert not [
        value for name, value in kept if name == "status__exact" and value != "failed"
    ]


def test_a_bad_day_is_refused_not_a_server_error(operator):
    response = operator.get(f"{CALLS}?created_from=yesterday")
    assert response.status_code == HTTPStatus.FOUND
    assert "e=1" in response["Location"]


@pytest.mark.parametrize(
    "url",
    [
        CALLS,
        "/admin/jobs/job/",
        "/admin/credits/ledgerentry/",
        "/admin/credits/credithold/",
    ],
)
def test_no_history_list_counts_a_whole_table(operator, team, url):
    call_add(team)
    with CaptureQueriesContext(connection) as queries:
        listed(operator, url)
        listed(operator, f"{url}?q={team.team_id}")
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_holds_page_lists_no_teams_in_its_filter(operator, organization, team):
    for n in range(3):
        team_create(organization=organization, team_id=f"quiet-{n}", actor="tests")
    page = listed(operator, "/admin/credits/credithold/")
    assert "quiet-0" not in page
    assert 'class="admin-autocomplete' in page


def test_the_team_autocomplete_answers_for_the_filter(operator, team):
    response = operator.get(
        "/admin/autocomplete/",
        {
            "app_label": "credits",
            "model_name": "creditaccount",
            "field_name": "team",
            "term": "acme",
        },
    )
    assert response.status_code == HTTPStatus.OK
    assert [r["text"] for r in response.json()["results"]] == [str(team)]


def test_a_row_shows_its_time_key_latency_and_time_to_first_token(operator, team):
    key = VirtualKey.objects.get(team=team)
    streamed = call_add(team, key=key, streamed=True, latency_ms=987, ttft_ms=123)
    keyless = call_add(team, latency_ms=456)
    page = listed(operator, CALLS)
    rows = {
        call: next(row for row in page.split("<tr") if f"/{call.pk}/change/" in row)
        for call in (streamed, keyless)
    }
    moment = timezone.localtime(streamed.created_at).strftime("%Y-%m-%d %H:%M:%S")
    assert moment in rows[streamed]
    cells = {
        call: {
            name: f'class="field-{name}">{value}<' in rows[call]
            for name, value in values.items()
        }
        for call, values in (
            (streamed, {"key": key.name, "latency_ms": 987, "ttft_ms": 123}),
            (keyless, {"key": "-", "latency_ms": 456, "ttft_ms": "-"}),
        )
    }
    assert all(all(found.values()) for found in cells.values()), cells


def test_the_call_page_shows_the_sanitized_error_and_nothing_editable(operator, team):
    call = call_add(team, status=CallStatus.FAILED, error="provider_error: HTTP 500")
    page = listed(operator, f"{CALLS}{call.pk}/change/")
    assert "provider_error: HTTP 500" in page
    assert str(call.job.job_id) in page
    assert "<textarea" not in page
    assert 'type="submit"' not in page.split('id="content-main"')[1]


# --- The team jobs API's keyset pages -------------------------------------------------


def jobs_url(team: Team, **params) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"/api/teams/{team.team_id}/jobs?{query}"


def test_cursor_pages_walk_every_job_once_newest_first(team, team_client):
    moment = timezone.now()
    # Two jobs share each moment: the id settles their order.
    for n in range(7):
        Job.objects.create(
            team=team, job_type="walk", created_at=moment - timedelta(seconds=n // 2)
        )
    expected = [
        str(job.job_id)
        for job in Job.objects.filter(team=team).order_by("-created_at", "-id")
    ]
    body = team_client.get(jobs_url(team, limit=3, cursor="")).json()
    assert body["total"] is None
    seen = [job["job_id"] for job in body["jobs"]]
    while body["next_cursor"] is not None:
        body = team_client.get(jobs_url(team, limit=3, cursor=body["next_cursor"]))
        body = body.json()
        assert body["total"] is None
        seen += [job["job_id"] for job in body["jobs"]]
    assert seen == expected


def test_the_first_page_counts_and_offset_still_works(team, team_client):
    for _ in range(3):
        job_create(team=team, job_type="old-style")
    first = team_client.get(jobs_url(team, limit=2)).json()
    second = team_client.get(jobs_url(team, limit=2, offset=2)).json()
    assert first["total"] == second["total"] == 3
    assert first["next_cursor"] is not None
    assert second["next_cursor"] is None
    assert len(first["jobs"]) + len(second["jobs"]) == 3


def test_a_cursor_with_a_status_keeps_the_status(team, team_client):
    for _ in range(3):
        job_create(team=team, job_type="status")
    Job.objects.filter(team=team).update(status="failed")
    job_create(team=team, job_type="pending")
    first = team_client.get(jobs_url(team, limit=1, status="failed")).json()
    rest = team_client.get(
        jobs_url(team, limit=5, status="failed", cursor=first["next_cursor"])
    ).json()
    assert {job["status"] for job in first["jobs"] + rest["jobs"]} == {"failed"}
    assert len(rest["jobs"]) == 2


@pytest.mark.parametrize("cursor", ["abc", "1_2_3", "-1_5"])
def test_a_malformed_cursor_is_a_400(team, team_client, cursor):
    response = team_client.get(jobs_url(team, cursor=cursor))
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_a_cursor_past_the_calendar_means_every_job(team, team_client):
    job_create(team=team, job_type="far")
    body = team_client.get(jobs_url(team, cursor="999999999999999999_1")).json()
    assert len(body["jobs"]) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # SET LOCAL ends with the page's transaction
def test_the_history_lists_plan_each_statement_for_its_values(operator, team):
    """Not the generic plan PostgreSQL settles on for a prepared statement (made for
    an average team): the list's reads run with plan_cache_mode force_custom_plan."""
    call_add(team)
    modes: list[str] = []

    def observe(execute, sql, params, many, context):
        if "jobs_llmcall" in sql and sql.lstrip().upper().startswith("SELECT"):
            with context["connection"].connection.cursor() as cursor:
                modes.append(cursor.execute("SHOW plan_cache_mode").fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(observe):
        listed(operator, f"{CALLS}?team__id__exact={team.pk}&status__exact=succeeded")
    assert modes
    assert set(modes) == {"force_custom_plan"}
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] != "force_custom_plan"  # for that page only
