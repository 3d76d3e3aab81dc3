"""Counters and flags shared by every server process through Django's cache: Redis
when REDIS_URL is set, this process's memory otherwise (see settings.CACHES).

While the shared cache cannot be reached, they fall back to this process's memory:
what they guard (rate limits, deployment cooldowns) then holds per process, as
without Redis, and no request fails for it; a warning is logged at most once a
minute. Written by hand on Django's cache, which already holds the connection
settings: the few operations needed (a counter's creation with its expiry and its
increment, a read of several keys) are atomic in Redis and need no library.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)
T = TypeVar("T")

WARNING_INTERVAL_SECONDS = 60
# The counters while the shared cache is unreachable.
LOCAL = LocMemCache("shared-counters-fallback", {})
_last_warning = 0.0


def shared(operation: Callable[[BaseCache], T]) -> T:
    """`operation` on the shared cache, or on this process's memory while the
    shared cache fails (ValueError is the cache's answer for a missing key, not a
    failure)."""
    global _last_warning
    try:
        return operation(caches["default"])
    except ValueError:
        raise
    except Exception as exc:
        if time.monotonic() - _last_warning > WARNING_INTERVAL_SECONDS:
            _last_warning = time.monotonic()
            logger.warning(
                "shared counters kept in this process: the shared cache failed (%s)",
                type(exc).__name__,
            )
        return operation(LOCAL)


def fallback_reset() -> None:
    """Forget the in-process fallback's counters and warning (tests)."""
    global _last_warning
    LOCAL.clear()
    _last_warning = 0.0


def _redis_client(store: BaseCache) -> Any | None:
    """The Redis client behind the shared cache, when it is Redis. Django keeps it
    in RedisCache._cache (no public accessor); with it, several counters change in
    one round trip instead of three per counter (add, exists, incrby)."""
    if isinstance(store, RedisCache):
        return store._cache.get_client(write=True)
    return None


def counters_add(increments: Sequence[tuple[str, int, int]]) -> list[int]:
    """Add `amount` to each counter (`key`, `amount`, `ttl`), each created to
    expire `ttl` seconds later; their new values, in one round trip on Redis."""

    def add(store: BaseCache) -> list[int]:
        client = _redis_client(store)
        if client is None:
            return [_added(store, *increment) for increment in increments]
        pipeline = client.pipeline(transaction=False)
        for key, amount, ttl in increments:
            name = store.make_and_validate_key(key)
            pipeline.set(name, 0, ex=ttl, nx=True)
            pipeline.incrby(name, amount)
        return [int(value) for value in pipeline.execute()[1::2]]

    return shared(add)


def _added(store: BaseCache, key: str, amount: int, ttl: int) -> int:
    store.add(key, 0, timeout=ttl)
    try:
        return store.incr(key, amount)
    except ValueError:  # expired between add and incr
        store.add(key, amount, timeout=ttl)
        return amount


def counter_add(key: str, amount: int, ttl: int) -> int:
    """Add to a counter that expires `ttl` s after its creation; its new value."""
    return counters_add([(key, amount, ttl)])[0]


def counter_take(key: str, ttl: int) -> None:
    """Take one back from a counter (never below 0)."""

    def decr(store: BaseCache) -> None:
        client = _redis_client(store)
        if client is not None:
            name = store.make_and_validate_key(key)
            if client.decr(name) < 0:
                client.set(name, 0, ex=ttl)
            return
        with contextlib.suppress(ValueError):  # expired: nothing to give back
            if store.decr(key) < 0:
                store.set(key, 0, timeout=ttl)

    shared(decr)


def values_read(keys: list[str]) -> dict[str, Any]:
    """The values of those keys that exist, in one round trip."""
    return shared(lambda store: store.get_many(keys))
