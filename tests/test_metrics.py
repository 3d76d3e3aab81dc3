"""GET /metrics is the operator's (admin key, or an allow-listed address), and the
HTTP figures are counted by URL pattern, never by raw path."""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from saas_litellm import metrics
from teams.models import TeamStatus
from teams.services import team_status_set


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_refused_without_the_admin_key(client):
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["code"] == "invalid_admin_key"
    assert response.json()["request_id"] == response["X-Request-Id"]


def test_metrics_are_refused_with_a_wrong_key_or_a_team_key(client, team_key):
    for headers in (
        {"HTTP_X_ADMIN_KEY": "sk-admin-wrong"},
        {"HTTP_AUTHORIZATION": "Bearer sk-admin-wrong"},
        {"HTTP_AUTHORIZATION": f"Bearer {team_key}"},
    ):
        assert client.get("/metrics", **headers).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_ADMIN_KEY": settings.MASTER_KEY},
        {"HTTP_AUTHORIZATION": f"Bearer {settings.MASTER_KEY}"},
    ],
    ids=["x-admin-key", "bearer"],
)
def test_metrics_are_served_with_the_admin_key(client, headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    assert b"saas_litellm_http_requests_total" in response.content


def test_an_allow_listed_address_needs_no_key(client, settings):
    settings.METRICS_ALLOW_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.2").status_code == 401


def test_metrics_answer_get_only(client):
    response = client.post("/metrics", HTTP_X_ADMIN_KEY=settings.MASTER_KEY)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["code"] == "method_not_allowed"


def test_requests_are_counted_by_url_pattern(client):
    labels = {"route": "api/jobs/<str:job_id>", "method": "GET", "status": "401"}
    before = sample("saas_litellm_http_requests_total", **labels)
    job_id = uuid.uuid4().hex
    client.get(f"/api/jobs/{job_id}")
    assert sample("saas_litellm_http_requests_total", **labels) == before + 1
    served = client.get("/metrics", HTTP_X_ADMIN_KEY=settings.MASTER_KEY)
    assert job_id.encode() not in served.content


def test_an_unknown_method_is_counted_as_other(client):
    labels = {"route": "health", "method": "other", "status": "405"}
    before = sample("saas_litellm_http_requests_total", **labels)
    assert client.generic("BREW", "/health").status_code == 405
    assert sample("saas_litellm_http_requests_total", **labels) == before + 1


def test_a_refusal_is_counted_with_its_code(team_client, team):
    team_status_set(team=team, status=TeamStatus.SUSPENDED, actor="tests")
    before = sample("saas_litellm_refusals_total", reason="team_suspended")
    response = team_client.post(
        "/api/jobs/create", {"team_id": team.team_id, "job_type": "t"}, format="json"
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert sample("saas_litellm_refusals_total", reason="team_suspended") == before + 1


def test_a_bad_key_is_a_refusal_too(client):
    before = sample("saas_litellm_refusals_total", reason="invalid_api_key")
    client.get("/api/teams/verify", HTTP_AUTHORIZATION="Bearer sk-bad")
    assert sample("saas_litellm_refusals_total", reason="invalid_api_key") == before + 1


def test_teams_beyond_the_cap_are_labelled_other(settings):
    seen = f"cap-{uuid.uuid4().hex[:8]}"
    assert metrics.team_label(seen) == seen
    settings.METRICS_MAX_TEAMS = 0
    assert metrics.team_label(f"cap-{uuid.uuid4().hex[:8]}") == "other"
    assert metrics.team_label(seen) == seen


def test_the_database_pool_is_read_when_scraped(client, postgres_only):
    response = client.get("/metrics", HTTP_X_ADMIN_KEY=settings.MASTER_KEY)
    assert b'saas_litellm_db_pool_connections{state="max"} 20.0' in response.content


def test_the_grafana_dashboard_uses_only_served_metrics(client):
    dashboard = (settings.BASE_DIR / "deploy/grafana/saas-litellm.json").read_text()
    used = set(re.findall(r"saas_litellm_[a-z_]+", dashboard))
    served = client.get("/metrics", HTTP_X_ADMIN_KEY=settings.MASTER_KEY).text
    assert used
    assert {
        name for name in used if name.removesuffix("_bucket") not in served
    } == set()
