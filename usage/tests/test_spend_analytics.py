"""The spend analytics page (usage/admin.py): a period's totals and margin, the
stacked daily chart and the top teams, keys, aliases and end users, read from the
rollups, each row linking to the request log filtered the same way."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from http import HTTPStatus
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from jobs.models import CallStatus, Job, LLMCall
from saas_litellm.exceptions import InvalidInput
from teams.models import VirtualKey
from teams.services import virtual_key_issue
from usage.models import UsageDaily, UsageDailyTotal
from usage.services import analytics, day_of, rollups_rebuild, usage_record
from usage.services.analytics import period_of, spend_analytics
from usage.tests.conftest import chat, job_call, job_complete, job_open

pytestmark = pytest.mark.django_db
PAGE = "admin:usage_usagedaily_changelist"


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser("op", "op@example.com", None)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def usage(team_client, mock_alias, failing_alias):
    """Three one-call jobs of `acme-corp` (two for end user u-1), and a failure."""
    for user in ("u-1", "u-1", "u-2"):
        assert chat(team_client, user=user).status_code == HTTPStatus.OK
    chat(team_client, model="broken")


def test_periods_are_presets_or_a_range():
    today = date(2026, 11, 29)
    assert period_of(today=today).start == date(2026, 10, 31)
    assert period_of(preset="7d", today=today).start == date(2026, 11, 23)
    assert period_of(preset="month", today=today).start == date(2026, 11, 1)
    ranged = period_of(start="2026-11-01", end="2026-11-03", today=today)
    assert len(ranged.days) == 3
    for bad in ({"start": "2026-13-01"}, {"start": "2026-11-05", "end": "2026-11-01"}):
        with pytest.raises(InvalidInput):
            period_of(**bad, today=today)
    with pytest.raises(InvalidInput):
        period_of(preset="1y", today=today)


def test_the_figures_add_up_to_the_rollups(usage, team):
    analytics = spend_analytics(period=period_of(preset="7d"))
    totals = analytics.totals.figures
    assert (totals["calls"], totals["failed_calls"], totals["credits"]) == (4, 1, 3)
    rows = UsageDaily.objects.all()
    assert totals["client_cost_usd"] == sum(r.client_cost_usd for r in rows)
    margin = analytics.totals.margin_usd
    assert margin == (
        Decimal(totals["client_cost_usd"]) - Decimal(totals["provider_cost_usd"])
    ).quantize(Decimal("0.01"))
    users = {row.label: row.figures["credits"] for row in analytics.tops["user"]}
    assert users == {"u-1": 2, "u-2": 1, "(none)": 0}
    (key_row,) = analytics.tops["key"]
    assert (key_row.label, key_row.figures["calls"]) == ("default", 4)
    today = timezone.now().date()
    (last_day,) = [d for d in analytics.daily if d["day"] == today]
    assert dict(last_day["series"]) == {"mock": 3, "broken": 0, "other": 0}


def test_the_page_shows_the_tops_and_links_to_the_filtered_log(operator, usage, team):
    page = operator.get(reverse(PAGE), {"preset": "7d"})
    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    assert "Spend analytics" in html
    assert '<svg class="chart stacked"' in html
    tops = {group: rows for group, _, rows in page.context["tops"]}
    links = [link for rows in tops.values() for _, link in rows]
    (row, link) = tops["alias"][0]
    query = parse_qs(urlparse(link).query)
    assert query["model_alias"] == [row.label]
    assert query["created_from"] == [
        (timezone.now().date() - timedelta(days=6)).isoformat()
    ]
    for link in links:
        assert operator.get(link).status_code == HTTPStatus.OK  # every filter allowed
    user_link = next(link for row, link in tops["user"] if row.label == "u-1")
    log = operator.get(user_link)
    assert len(log.context["cl"].result_list) == 2  # u-1's two calls


def test_the_charts_coordinates_are_numbers_in_any_language(operator, usage, settings):
    """SVG reads "12.5", not a language's "12,5" or a thousands separator."""
    settings.USE_THOUSAND_SEPARATOR = True
    UsageDailyTotal.objects.update(credits=F("credits") + 1000)  # the chart's
    with translation.override("de"):
        html = operator.get(reverse(PAGE), {"preset": "7d"}).content.decode()
    start = html.index('<svg class="chart stacked"')
    svg = html[start : html.index("</svg>", start)]
    coordinates = re.findall(r' (?:x|y|width|height)="([^"]*)"', svg)
    assert coordinates
    assert all(re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) for value in coordinates)
    assert re.search(r": 100[0-9] credits</title>", svg)


def test_one_team_and_a_bad_period(operator, usage, team, other_team):
    page = operator.get(reverse(PAGE), {"team": "globex"})
    assert page.context["analytics"].totals.figures["calls"] is None  # no usage
    bad = operator.get(reverse(PAGE), {"start": "yesterday"})
    assert bad.status_code == HTTPStatus.OK
    assert "Period: start and end must be dates" in bad.content.decode()
    unknown = operator.get(reverse(PAGE), {"team": "nobody"})
    assert unknown.context["analytics"].team is None


def test_a_teams_own_page_shows_it_as_the_page_of_every_team_does(
    usage, team, other_team
):
    period = period_of(preset="7d")
    everyone = spend_analytics(period=period)
    (listed,) = [row for row in everyone.tops["team"] if row.value == team.pk]
    (own,) = spend_analytics(period=period, team=team).tops["team"]
    assert (own.label, own.value, own.figures) == (
        listed.label,
        listed.value,
        listed.figures,
    )
    assert spend_analytics(period=period, team=other_team).tops["team"] == []


def test_the_team_page_links_to_its_analytics(operator, team):
    page = operator.get(reverse("admin:teams_team_change", args=[team.pk]))
    assert page.status_code == HTTPStatus.OK
    assert f"{reverse(PAGE)}?team=acme-corp" in page.content.decode()


def test_the_page_downloads_its_usage_and_its_request_log(operator, usage, team):
    page = operator.get(reverse(PAGE), {"preset": "7d"})
    download = page.context["download"]
    usage_csv = b"".join(operator.get(f"{download}&what=usage").streaming_content)
    lines = usage_csv.decode().splitlines()
    assert lines[0].startswith("day,team_id,key_id,model_alias,user_id,calls")
    assert sum(int(line.split(",")[5]) for line in lines[1:]) == 4  # every call
    calls = operator.get(f"{download}&what=calls")
    assert calls["Content-Disposition"].startswith('attachment; filename="calls-')
    rows = b"".join(calls.streaming_content).decode().splitlines()
    assert rows[0].split(",")[-2:] == ["provider_cost_usd", "client_cost_usd"]
    assert len(rows) == 1 + 4


def test_tops_rank_every_team_and_key_and_name_those_shown(
    team_client, other_team_client, mock_alias, other_team
):
    """Ranked by credits, then calls; the operator's job (no key) is a row of its
    own; the figures of each row are its own, the totals every team's."""
    other_team.access_groups.add(*mock_alias.access_groups.all())
    for _ in range(4):
        assert chat(other_team_client).status_code == HTTPStatus.OK
    for _ in range(2):
        assert chat(team_client).status_code == HTTPStatus.OK
    job_id = job_open(team_client)
    Job.objects.filter(job_id=job_id).update(key=None)  # as an operator's job
    assert job_call(team_client, job_id).status_code == HTTPStatus.OK
    assert job_complete(team_client, job_id).status_code == HTTPStatus.OK
    analytics = spend_analytics(period=period_of(preset="7d"))
    teams = [(row.label, row.figures["calls"]) for row in analytics.tops["team"]]
    assert teams == [("globex", 4), ("acme-corp", 3)]
    keys = [(row.label, row.value is None) for row in analytics.tops["key"]]
    assert keys == [("default", False), ("default", False), ("(none)", True)]
    assert [row.figures["calls"] for row in analytics.tops["key"]] == [4, 2, 1]
    assert analytics.totals.figures["calls"] == 7
    assert analytics.totals.figures["credits"] == 7


def test_a_top_key_of_a_team_not_shown_has_its_own_figures(
    team_client, other_team_client, mock_alias, other_team, team, monkeypatch
):
    """With one row shown: acme-corp spends most over three keys, globex's one key
    spends most of any key; each row's figures are its own."""
    monkeypatch.setattr(analytics, "TOP", 1)
    other_team.access_groups.add(*mock_alias.access_groups.all())
    for _ in range(3):
        assert chat(other_team_client).status_code == HTTPStatus.OK
    for name in ("second", "third"):
        client = APIClient()
        issued = virtual_key_issue(team=team, name=name)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        for _ in range(2):
            assert chat(client).status_code == HTTPStatus.OK
    assert chat(team_client).status_code == HTTPStatus.OK
    tops = spend_analytics(period=period_of(preset="7d")).tops
    assert [(row.label, row.figures["calls"]) for row in tops["team"]] == [
        ("acme-corp", 5)
    ]
    (key_row,) = tops["key"]
    assert VirtualKey.objects.get(pk=key_row.value).team == other_team
    assert (key_row.label, key_row.figures["calls"]) == ("default", 3)
    assert key_row.figures["credits"] == 3


def _to_yesterday() -> date:
    """Moves every rollup row of today to yesterday (as if the calls had been made
    then): the past days whose sums the ranking keeps."""
    yesterday = timezone.now().date() - timedelta(days=1)
    UsageDaily.objects.update(day=yesterday)
    UsageDailyTotal.objects.update(day=yesterday)
    return yesterday


def _teams_ranked() -> list[tuple[str, int]]:
    analytics = spend_analytics(period=period_of(preset="7d"))
    return [(row.label, row.figures["credits"]) for row in analytics.tops["team"]]


def test_past_days_kept_for_the_ranking_follow_a_late_outcome(
    team_client, other_team_client, mock_alias, other_team
):
    """The past days' sums per team are kept between pages while those days stay
    as they were; a call that started yesterday and ends today adds to yesterday
    and the ranking sees it at once."""
    other_team.access_groups.add(*mock_alias.access_groups.all())
    for _ in range(3):
        assert chat(team_client).status_code == HTTPStatus.OK
    for _ in range(2):
        assert chat(other_team_client).status_code == HTTPStatus.OK
    yesterday = _to_yesterday()
    assert _teams_ranked() == [("acme-corp", 3), ("globex", 2)]
    late = LLMCall.objects.filter(team=other_team).select_related("job").first()
    late.created_at -= timedelta(days=1)
    assert day_of(late.created_at) == yesterday
    with transaction.atomic():
        for _ in range(2):  # two late outcomes charged a credit each
            usage_record(call=late, credits=1)
    assert _teams_ranked() == [("globex", 4), ("acme-corp", 3)]


def test_a_repair_of_the_rollups_drops_the_kept_sums(team, other_team):
    """A repair can move counters between teams and leave every day's sums as they
    were: `rollups_rebuild` forgets what the ranking kept."""
    yesterday = timezone.now() - timedelta(days=1)
    for owner, calls in ((team, 3), (other_team, 1)):
        jobs = Job.objects.bulk_create(
            Job(team=owner, job_type="t", status="completed", created_at=yesterday)
            for _ in range(calls)
        )
        LLMCall.objects.bulk_create(
            LLMCall(
                job=job,
                team_id=owner.pk,
                model_alias="mock",
                status=CallStatus.SUCCEEDED,
                created_at=yesterday,
            )
            for job in jobs
        )
    day = yesterday.date()
    assert rollups_rebuild(start=day, end=day)  # written from the calls
    # Calls moved from one team's row to the other's: every day's sums stay.
    UsageDaily.objects.filter(team=team).update(calls=F("calls") - 2)
    UsageDaily.objects.filter(team=other_team).update(calls=F("calls") + 2)
    analytics = spend_analytics(period=period_of(preset="7d"))
    assert [row.label for row in analytics.tops["team"]] == ["globex", "acme-corp"]
    assert rollups_rebuild(start=day, end=day)  # moved back
    analytics = spend_analytics(period=period_of(preset="7d"))
    teams = [(row.label, row.figures["calls"]) for row in analytics.tops["team"]]
    assert teams == [("acme-corp", 3), ("globex", 1)]
