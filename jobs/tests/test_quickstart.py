from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command

from credits.models import CreditAccount
from teams.models import Team, VirtualKey


def run() -> str:
    out = StringIO()
    call_command("quickstart", stdout=out)
    return out.getvalue()


def test_quickstart_prints_the_demo_key_once(db):
    first = run()
    assert "http://127.0.0.1:8003" in first
    key = re.search(r"sk-[0-9a-f]{32}", first).group(0)
    second = run()
    assert key not in second
    assert "create_key demo-team" in second
    assert VirtualKey.objects.count() == 1


def test_quickstart_funds_the_demo_team(db):
    run()
    team = Team.objects.get(team_id="demo-team")
    assert CreditAccount.objects.get(team=team).credits_remaining == 1000
    assert list(team.access_groups.values_list("group_name", flat=True)) == [
        "gpt-models"
    ]


def test_the_demo_alias_answers_offline(db, fake_provider):
    from rest_framework.test import APIClient

    key = re.search(r"sk-[0-9a-f]{32}", run()).group(0)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    job_id = client.post(
        "/api/jobs/create", {"team_id": "demo-team", "job_type": "demo"}, format="json"
    ).json()["job_id"]
    before = fake_provider.request_count
    response = client.post(
        f"/api/jobs/{job_id}/llm-call",
        {"model": "demo", "messages": [{"role": "user", "content": "Hi"}]},
        format="json",
    )
    assert response.json()["response"]["content"] == (
        "Hello from the SaaS LiteLLM demo model."
    )
    assert fake_provider.request_count == before
