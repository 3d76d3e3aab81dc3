"""Per-team rate limits shared by every server process through Django's cache.

Requests and tokens per minute are fixed one-minute windows (atomic `add` + `incr`);
parallel requests are a counter taken at call start and given back in a `finally`.
A team whose limit field is empty is unlimited. With REDIS_URL set the counters live
in Redis and hold across processes; with the default local-memory cache they are per
process.

While the shared cache (Redis) cannot be reached, the counters fall back to this
process's memory (saas_litellm.shared_counters). A parallel slot taken in Redis and
given back during the outage is recovered when its counter expires.

Accepted trade-offs: a fixed window lets a burst of up to twice the limit straddle a
minute boundary; tokens are counted after a call, so calls already running when the
limit is reached still finish; a parallel slot lost by a crashed process is recovered
when its counter expires (PARALLEL_TTL_SECONDS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from saas_litellm.exceptions import RateLimited
from saas_litellm.shared_counters import counter_add, counter_take, shared
from teams.models import Team

WINDOW_SECONDS = 60
PARALLEL_TTL_SECONDS = 15 * 60


@dataclass
class RateLimitSlot:
    """What a running call holds; give it back with `rate_limit_release`."""

    team_id: str
    parallel_key: str | None = None
    tokens_limited: bool = False


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW_SECONDS
    return start, start + WINDOW_SECONDS - now


def rate_limit_acquire(*, team: Team) -> RateLimitSlot:
    """Count one request against the team's limits, or raise RateLimited (429)."""
    window, retry_after = _window()
    slot = RateLimitSlot(team_id=team.team_id)
    if team.requests_per_minute is not None:
        key = f"rl:{team.team_id}:rpm:{window}"
        if counter_add(key, 1, WINDOW_SECONDS * 2) > team.requests_per_minute:
            raise RateLimited(
                "Too many requests per minute for this team", retry_after=retry_after
            )
    if team.tokens_per_minute is not None:
        slot.tokens_limited = True
        key = f"rl:{team.team_id}:tpm:{window}"
        used: Any = shared(lambda counters: counters.get(key, 0))
        if used >= team.tokens_per_minute:
            raise RateLimited(
                "Too many tokens per minute for this team", retry_after=retry_after
            )
    if team.max_parallel_requests is not None:
        key = f"rl:{team.team_id}:parallel"
        if counter_add(key, 1, PARALLEL_TTL_SECONDS) > team.max_parallel_requests:
            counter_take(key, PARALLEL_TTL_SECONDS)
            raise RateLimited("Too many parallel requests for this team", retry_after=1)
        slot.parallel_key = key
    return slot


def rate_limit_release(*, slot: RateLimitSlot | None, tokens_used: int = 0) -> None:
    """Give back the parallel slot and count the tokens the call used. Idempotent."""
    if slot is None:
        return
    if slot.parallel_key is not None:
        counter_take(slot.parallel_key, PARALLEL_TTL_SECONDS)
        slot.parallel_key = None
    if slot.tokens_limited and tokens_used > 0:
        window, _ = _window()
        counter_add(f"rl:{slot.team_id}:tpm:{window}", tokens_used, WINDOW_SECONDS * 2)
        slot.tokens_limited = False
