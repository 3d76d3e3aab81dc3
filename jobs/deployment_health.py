"""What every server process knows of each deployment: whether it is cooling down,
its recent failures, requests in flight, latency, and requests and tokens this
minute (for its own rpm/tpm caps).

Kept in the shared cache (saas_litellm.shared_counters: Redis with REDIS_URL, so a
deployment cooled down by one process is left out by all of them; process memory
otherwise). Keys are `dep:<deployment>:…`, where `<deployment>` is Route.deployment.
Only plans with more than one deployment, or a deployment with caps, are tracked
(jobs.routing decides): with one deployment there is nothing to choose.

Each update is one round trip (saas_litellm.shared_counters), written off the
request's path by a thread of its own (`later`). Accepted trade-offs: counts are
per fixed minute (the latency is the mean of this minute's and the last one's
answers); a count of requests in flight lost by a crashed process expires with its
key.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache.backends.base import BaseCache

from saas_litellm import metrics
from saas_litellm.shared_counters import (
    counter_take,
    counters_add,
    shared,
    values_read,
)

if TYPE_CHECKING:
    from jobs.routing import Route

logger = logging.getLogger(__name__)

MINUTE = 60
IN_FLIGHT_TTL_SECONDS = 15 * 60


@dataclass(frozen=True)
class DeploymentState:
    cooling_for: float = 0.0  # seconds left out of rotation
    failures: int = 0  # within the failure window
    in_flight: int = 0
    latency_ms: float | None = None  # mean of this and the last minute's answers
    requests_this_minute: int = 0
    failures_this_minute: int = 0
    tokens_this_minute: int = 0

    def over_caps(self, route: Route) -> bool:
        return (route.rpm is not None and self.requests_this_minute >= route.rpm) or (
            route.tpm is not None and self.tokens_this_minute >= route.tpm
        )


def _minute() -> int:
    return int(time.time()) // MINUTE


def _keys(deployment: str, minute: int) -> dict[str, str]:
    prefix = f"dep:{deployment}:"
    return {
        "cool": prefix + "cool",
        "fail": prefix + "fail",
        "busy": prefix + "busy",
        "requests": f"{prefix}requests:{minute}",
        "failed": f"{prefix}failed:{minute}",
        "tokens": f"{prefix}tokens:{minute}",
        "answered": f"{prefix}answered:{minute}",
        "waited": f"{prefix}waited:{minute}",
        "answered_before": f"{prefix}answered:{minute - 1}",
        "waited_before": f"{prefix}waited:{minute - 1}",
    }


# What each strategy reads besides the cooldown (and the caps' counts, if capped).
READS = {
    "weighted": (),
    "least_busy": ("busy",),
    "lowest_latency": ("answered", "waited", "answered_before", "waited_before"),
}


def states(
    deployments: list[str], reads: Iterable[str] | None = None
) -> dict[str, DeploymentState]:
    """The state of each deployment, read in one round trip: all of it, or only
    the cooldown and `reads` (missing parts read as 0)."""
    minute = _minute()
    keys = {}
    for deployment in deployments:
        named = _keys(deployment, minute)
        if reads is not None:
            named = {k: v for k, v in named.items() if k == "cool" or k in reads}
        keys[deployment] = named
    values = values_read([key for named in keys.values() for key in named.values()])
    now = time.time()
    found = {}
    for deployment, named in keys.items():
        value = dict.fromkeys(_keys(deployment, minute), 0)
        value.update({name: values.get(key) or 0 for name, key in named.items()})
        answered = value["answered"] + value["answered_before"]
        found[deployment] = DeploymentState(
            cooling_for=max(0.0, float(value["cool"]) - now),
            failures=value["fail"],
            in_flight=max(0, value["busy"]),
            latency_ms=(value["waited"] + value["waited_before"]) / answered
            if answered
            else None,
            requests_this_minute=value["requests"],
            failures_this_minute=value["failed"],
            tokens_this_minute=value["tokens"],
        )
    return found


def started(route: Route) -> None:
    """A request is sent to the deployment."""
    keys = _keys(route.deployment, _minute())
    counters_add(
        [(keys["requests"], 1, MINUTE * 2), (keys["busy"], 1, IN_FLIGHT_TTL_SECONDS)]
    )


def finished(route: Route, *, latency_ms: int | None) -> None:
    """The deployment's request is over (answered, failed or abandoned); a latency
    only for an answer (to its first token, for a stream)."""
    keys = _keys(route.deployment, _minute())
    counter_take(keys["busy"], IN_FLIGHT_TTL_SECONDS)
    if latency_ms is not None:
        counters_add(
            [
                (keys["answered"], 1, MINUTE * 3),
                (keys["waited"], max(0, int(latency_ms)), MINUTE * 3),
            ]
        )


def tokens_used(route: Route, tokens: int) -> None:
    """The tokens a call billed (for the deployment's tpm)."""
    if tokens > 0:
        counters_add([(_keys(route.deployment, _minute())["tokens"], tokens, 120)])


def failed(route: Route, *, retry_after: float | None) -> float:
    """Count a failure of the deployment; cool it down after too many in the
    window, or for the provider's Retry-After. The cooldown's seconds (0: none)."""
    keys = _keys(route.deployment, _minute())
    _, failures = counters_add(
        [
            (keys["failed"], 1, MINUTE * 2),
            (keys["fail"], 1, settings.ROUTER_FAILURE_WINDOW_SECONDS),
        ]
    )
    if retry_after is not None and retry_after > 0:
        seconds = min(retry_after, settings.ROUTER_COOLDOWN_MAX_SECONDS)
    elif failures >= settings.ROUTER_ALLOWED_FAILS:
        seconds = settings.ROUTER_COOLDOWN_SECONDS
    else:
        return 0.0
    until = time.time() + seconds

    def cool(store: BaseCache) -> None:
        store.set(keys["cool"], until, timeout=max(1, math.ceil(seconds)))
        store.delete(keys["fail"])

    shared(cool)
    metrics.deployment_cooled(alias=route.alias, position=route.position)
    return seconds


# Updates are written by one thread of their own, in the order they happen, so that
# a request never waits for the shared cache after its deployment answered.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deployment-health")


def later(update: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run one of the updates above on the writer thread."""

    def run() -> None:
        try:
            update(*args, **kwargs)
        except Exception:  # health is advisory: never fail a request for it
            logger.warning("deployment health not updated", exc_info=True)

    _writer.submit(run)


def written() -> None:
    """Wait until every update asked for so far is written (tests, shutdown)."""
    _writer.submit(lambda: None).result()
