"""Rate limits while the shared cache (Redis) is unreachable: counted in this
process's memory, never a 500 (jobs/ratelimit.py)."""

from __future__ import annotations

import pytest

from jobs.ratelimit import rate_limit_acquire, rate_limit_release
from jobs.tests.live import free_port
from saas_litellm import shared_counters
from saas_litellm.exceptions import RateLimited

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


@pytest.fixture
def redis_down(settings):
    caches = {"default": dict(UNREACHABLE_REDIS["default"])}
    caches["default"]["LOCATION"] = caches["default"]["LOCATION"].format(
        port=free_port()
    )
    settings.CACHES = caches
    shared_counters.fallback_reset()


@pytest.mark.django_db
def test_limits_hold_per_process_while_redis_is_down(
    redis_down, team, caplog, whole_window
):
    team.requests_per_minute = 3
    team.max_parallel_requests = 1
    first = rate_limit_acquire(team=team)
    with pytest.raises(RateLimited, match="parallel"):  # its slot is taken
        rate_limit_acquire(team=team)
    rate_limit_release(slot=first, tokens_used=10)
    rate_limit_release(slot=rate_limit_acquire(team=team))
    with pytest.raises(RateLimited, match="per minute"):  # the 4th of the minute
        rate_limit_acquire(team=team)
    assert "shared counters kept in this process" in caplog.text
