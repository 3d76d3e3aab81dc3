"""Three server processes (gunicorn, one worker each, DEBUG off) on different ports,
sharing the test database and a private Redis: what must hold across processes does.

Requests are spread round-robin over the three and sent at once from threads.
"""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from credits.models import EntryType, LedgerEntry
from credits.services import credit_add, credits_reconcile
from jobs.models import Job, JobStatus, LLMCall
from jobs.tests.conftest import account, call_body
from jobs.tests.live import free_port
from jobs.tests.processes import (
    RedisServer,
    Server,
    gunicorn_start,
    server_env,
    server_stop,
    server_wait,
)
from teams.models import Team
from teams.services import model_alias_update, team_create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("rollups_agree"),
]


@pytest.fixture(scope="module")
def redis_server() -> RedisServer:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def servers(django_db_setup, redis_server, tmp_path_factory) -> list[Server]:
    """Three instances, started together (each warms litellm before forking)."""
    logs = tmp_path_factory.mktemp("servers")
    env = server_env(REDIS_URL=redis_server.url)
    started = [gunicorn_start(env, logs / f"server-{n}.log") for n in range(3)]
    try:
        for server in started:
            server_wait(server)
        yield started
    finally:
        for server in started:
            server_stop(server)


@pytest.fixture(autouse=True)
def counters_cleared(redis_server) -> None:
    redis_server.flush()


def spread(
    servers: list[Server], key: str, count: int, model: str = "chat"
) -> list[requests.Response]:
    """`count` chat completions at once, round-robin over the servers."""

    def post(number: int) -> requests.Response:
        return requests.post(
            f"{servers[number % len(servers)].url}/v1/chat/completions",
            json=call_body(model=model),
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(post, range(count)))


def statuses(answers: list[requests.Response]) -> dict[int, int]:
    return dict(collections.Counter(answer.status_code for answer in answers))


def error_codes(answers: list[requests.Response]) -> set[Any]:
    return {answer.json()["error"]["code"] for answer in answers if not answer.ok}


def limit(team: Team, **limits: int) -> None:
    Team.objects.filter(pk=team.pk).update(**limits)


def test_a_team_limited_to_ten_a_minute_gets_ten_through_across_three(
    servers, team, team_key, chat_alias, whole_window
):
    limit(team, requests_per_minute=10)
    answers = spread(servers, team_key, 30)
    assert statuses(answers) == {HTTPStatus.OK: 10, HTTPStatus.TOO_MANY_REQUESTS: 20}
    assert error_codes(answers) == {"rate_limited"}
    refused = [a for a in answers if a.status_code == HTTPStatus.TOO_MANY_REQUESTS]
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in refused)


def test_a_key_revoked_through_one_process_is_refused_by_the_others(
    servers, team, issued_team_key, team_key, chat_alias
):
    headers = {"Authorization": f"Bearer {team_key}"}
    for server in servers:
        assert requests.get(f"{server.url}/v1/models", headers=headers, timeout=10).ok
    revoked = requests.post(
        f"{servers[0].url}/api/teams/{team.team_id}/keys/"
        f"{issued_team_key.key.key_id}/revoke",
        headers={"X-Admin-Key": settings.MASTER_KEY},
        timeout=10,
    )
    assert revoked.status_code == HTTPStatus.OK
    for server in servers[1:]:
        refused = requests.post(
            f"{server.url}/v1/chat/completions",
            json=call_body(),
            headers=headers,
            timeout=10,
        )
        assert refused.status_code == HTTPStatus.UNAUTHORIZED
        assert refused.json()["error"]["code"] == "invalid_api_key"


def test_max_parallel_requests_holds_across_three(
    servers, team, team_key, chat_alias, make_alias, fake_provider
):
    make_alias("slow", "fake-slow")
    fake_provider.state.behaviour.slow_latency = 3.0
    limit(team, max_parallel_requests=2)
    answers = spread(servers, team_key, 9, model="slow")
    assert statuses(answers) == {HTTPStatus.OK: 2, HTTPStatus.TOO_MANY_REQUESTS: 7}
    # Every process gave its slots back: two at once pass again.
    fake_provider.state.behaviour.slow_latency = 0.0
    assert statuses(spread(servers, team_key, 2)) == {HTTPStatus.OK: 2}


def test_a_deployment_down_is_cooled_down_for_every_process(
    servers, team, team_key, make_alias, fake_provider, access_group
):
    """Its failures are counted in Redis: after ROUTER_ALLOWED_FAILS of them, in
    whichever processes, no process sends to it (with process memory each would
    try it that many times)."""
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    team.access_groups.add(access_group)
    alias = make_alias("pool")
    model_alias_update(
        alias=alias,
        actor="tests",
        deployments=[
            {"actual_model": "openai/fake-echo", "api_base": down},
            {"actual_model": "openai/fake-echo", "api_base": fake_provider.api_base},
        ],
    )
    for _ in range(10):  # one at a time, round-robin over the three
        assert statuses(spread(servers, team_key, 3, model="pool")) == {
            HTTPStatus.OK: 3
        }
    tried = [
        attempt["deployment"]
        for attempts in LLMCall.objects.values_list("attempts", flat=True)
        for attempt in attempts
    ]
    assert tried.count("pool#1") == 30
    assert 3 <= tried.count("pool#0") <= 5  # 3, or a few sent at the same moment


@pytest.fixture
def small_team(organization, access_group, chat_alias) -> tuple[Team, str]:
    """A team with 10 credits and access to `chat`."""
    issued = team_create(organization=organization, team_id="small", actor="tests")
    credit_add(team=issued.key.team, credits=10, actor="tests")
    issued.key.team.access_groups.add(access_group)
    return issued.key.team, issued.plaintext


def test_a_burst_over_three_never_overspends_and_reconciles(servers, small_team):
    team, key = small_team
    answers = spread(servers, key, 45)
    succeeded = statuses(answers).get(HTTPStatus.OK, 0)
    assert set(statuses(answers)) <= {HTTPStatus.OK, HTTPStatus.FORBIDDEN}
    assert error_codes(answers) <= {"insufficient_credits"}
    deductions = LedgerEntry.objects.filter(
        account__team=team, entry_type=EntryType.DEDUCTION
    )
    assert deductions.count() == succeeded == 10
    assert len(set(deductions.values_list("job_id", flat=True))) == succeeded
    balance = account(team)
    assert (balance.credits_used, balance.credits_reserved) == (10, 0)
    assert not Job.objects.filter(status=JobStatus.IN_PROGRESS).exists()
    assert credits_reconcile() == {}
    call_command("reconcile_credits")


@pytest.fixture
def redis_stopped(redis_server) -> None:
    """Redis down for the test (started again, empty, after it)."""
    redis_server.stop()
    yield
    redis_server.start()


def test_with_redis_stopped_a_team_without_limits_is_served(
    servers, team_key, chat_alias, redis_stopped
):
    answers = spread(servers, team_key, 6)
    assert statuses(answers) == {HTTPStatus.OK: 6}
    assert all(requests.get(f"{s.url}/ready", timeout=10).ok for s in servers)


def test_with_redis_stopped_a_limited_team_is_not_answered_5xx(
    servers, team, team_key, chat_alias, redis_stopped
):
    limit(team, requests_per_minute=100, max_parallel_requests=5)
    answers = spread(servers, team_key, 6)
    assert all(answer.status_code < 500 for answer in answers), statuses(answers)


@pytest.fixture
def answer_in_flight_when_redis_stops(
    servers, redis_server, team, team_key, make_alias, chat_alias, fake_provider
) -> requests.Response:
    """A slow call admitted with Redis up; Redis stops while the provider works."""
    make_alias("slow", "fake-slow")
    fake_provider.state.behaviour.slow_latency = 2.0
    limit(team, max_parallel_requests=5)
    sent = len(fake_provider.state.requests)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(spread, servers[:1], team_key, 1, "slow")
        while len(fake_provider.state.requests) == sent:
            time.sleep(0.05)
        redis_server.stop()
        try:
            (answer,) = pending.result()
        finally:
            redis_server.start()
    return answer


def test_a_call_in_flight_when_redis_stops_is_recorded_and_billed_once(
    answer_in_flight_when_redis_stops,
):
    (job,) = Job.objects.all()
    assert job.status == JobStatus.COMPLETED
    deductions = LedgerEntry.objects.filter(entry_type=EntryType.DEDUCTION)
    assert list(deductions.values_list("job_id", flat=True)) == [job.job_id]
    assert credits_reconcile() == {}


def test_a_call_in_flight_when_redis_stops_is_answered(
    answer_in_flight_when_redis_stops,
):
    assert answer_in_flight_when_redis_stops.status_code == HTTPStatus.OK
