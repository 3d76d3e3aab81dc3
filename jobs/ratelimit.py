"""Per-team rate limits shared by every server process through Django's cache.

Requests and tokens per minute are fixed one-minute windows (atomic `add` + `incr`);
parallel requests are a counter taken at call start and given back in a `finally`.
A team whose limit field is empty is unlimited. With REDIS_URL set the counters live
in Redis and hold across processes; with the default local-memory cache they are per
process.

While the shared cache (Redis) cannot be reached, the counters fall back to this
process's memory: the limits then hold per process, as without Redis, and no request
fails for it; a warning is logged (at most once a minute). A parallel slot taken in
Redis and given back during the outage is recovered when its counter expires.

Accepted trade-offs: a fixed window lets a burst of up to twice the limit straddle a
minute boundary; tokens are counted after a call, so calls already running when the
limit is reached still finish; a parallel slot lost by a crashed process is recovered
when its counter expires (PARALLEL_TTL_SECONDS).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from saas_litellm.exceptions import RateLimited
from teams.models import Team

logger = logging.getLogger(__name__)
T = TypeVar("T")

WINDOW_SECONDS = 60
PARALLEL_TTL_SECONDS = 15 * 60
# The counters while the shared cache is unreachable.
_LOCAL = LocMemCache("rate-limits-fallback", {})
_last_warning = 0.0


def _counted(operation: Callable[[BaseCache], T]) -> T:
    """`operation` on the shared cache, or on this process's memory while the
    shared cache fails (ValueError is the cache's answer for a missing key, not a
    failure)."""
    global _last_warning
    try:
        return operation(cache)
    except ValueError:
        raise
    except Exception as exc:
        if time.monotonic() - _last_warning > WINDOW_SECONDS:
            _last_warning = time.monotonic()
            logger.warning(
                "rate limits counted in this process: the shared cache failed (%s)",
                type(exc).__name__,
            )
        return operation(_LOCAL)


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


def _incr(key: str, amount: int, ttl: int) -> int:
    def incr(counters: BaseCache) -> int:
        counters.add(key, 0, timeout=ttl)
        try:
            return counters.incr(key, amount)
        except ValueError:  # expired between add and incr
            counters.add(key, amount, timeout=ttl)
            return amount

    return _counted(incr)


def rate_limit_acquire(*, team: Team) -> RateLimitSlot:
    """Count one request against the team's limits, or raise RateLimited (429)."""
    window, retry_after = _window()
    slot = RateLimitSlot(team_id=team.team_id)
    if team.requests_per_minute is not None:
        key = f"rl:{team.team_id}:rpm:{window}"
        if _incr(key, 1, WINDOW_SECONDS * 2) > team.requests_per_minute:
            raise RateLimited(
                "Too many requests per minute for this team", retry_after=retry_after
            )
    if team.tokens_per_minute is not None:
        slot.tokens_limited = True
        key = f"rl:{team.team_id}:tpm:{window}"
        used: Any = _counted(lambda counters: counters.get(key, 0))
        if used >= team.tokens_per_minute:
            raise RateLimited(
                "Too many tokens per minute for this team", retry_after=retry_after
            )
    if team.max_parallel_requests is not None:
        key = f"rl:{team.team_id}:parallel"
        if _incr(key, 1, PARALLEL_TTL_SECONDS) > team.max_parallel_requests:
            _decr(key)
            raise RateLimited("Too many parallel requests for this team", retry_after=1)
        slot.parallel_key = key
    return slot


def _decr(key: str) -> None:
    def decr(counters: BaseCache) -> None:
        if counters.decr(key) < 0:
            counters.set(key, 0, timeout=PARALLEL_TTL_SECONDS)

    with contextlib.suppress(ValueError):  # the counter expired: nothing to give
        _counted(decr)


def rate_limit_release(*, slot: RateLimitSlot | None, tokens_used: int = 0) -> None:
    """Give back the parallel slot and count the tokens the call used. Idempotent."""
    if slot is None:
        return
    if slot.parallel_key is not None:
        _decr(slot.parallel_key)
        slot.parallel_key = None
    if slot.tokens_limited and tokens_used > 0:
        window, _ = _window()
        _incr(f"rl:{slot.team_id}:tpm:{window}", tokens_used, WINDOW_SECONDS * 2)
        slot.tokens_limited = False
