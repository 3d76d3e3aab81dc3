"""The routing stage's own cost, in one process: litellm's Router against our plan.

    python bench/router_overhead.py [CALLS]      (prints JSON)

Both pick one of three deployments of an alias and make the call with litellm's
`mock_response` (no network), keeping their shared state in the same Redis when
REDIS_URL is set (Router: cooldowns and usage; ours: jobs.deployment_health), else
in process memory. Each figure is a median over CALLS interleaved calls, minus the
median of the bare `litellm.acompletion` with the same mock: what choosing the
deployment (and, for the Router, its own wrapping of the call) adds. Run by
`bench/run.py` (scenario 9); README "Routing" says what it decided.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

import django

django.setup()

import litellm  # noqa: E402

from jobs import deployment_health  # noqa: E402
from jobs.routing import AliasRoutes, Attempts, Route, RoutePlan  # noqa: E402

MESSAGES = [{"role": "user", "content": "hello"}]
MODEL = "openai/gpt-4o-mini"


def our_plan() -> RoutePlan:
    routes = tuple(
        Route(alias="pool", model=MODEL, mock_response="ok", deployment=f"bench{n}",
              position=n, weight=1)
        for n in range(3)
    )  # fmt: skip
    return RoutePlan((AliasRoutes("pool", "weighted", routes),))


def router() -> litellm.Router:
    params = {}
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        parts = urlsplit(redis_url)
        params = {"redis_host": parts.hostname, "redis_port": parts.port or 6379}
    deployments = [
        {
            "model_name": "pool",
            "litellm_params": {"model": MODEL, "mock_response": "ok"},
            "model_info": {"id": f"bench{n}"},
        }
        for n in range(3)
    ]
    return litellm.Router(model_list=deployments, num_retries=0, **params)


async def measure(calls: int) -> dict[str, float]:
    plan, pool = our_plan(), router()
    timings: dict[str, list[float]] = {"bare": [], "ours": [], "router": []}

    async def bare() -> None:
        await litellm.acompletion(model=MODEL, messages=MESSAGES, mock_response="ok")

    async def ours() -> None:
        # What the request path does: order the deployments (reading their shared
        # state), hand the health updates to the writer thread, call.
        route = Attempts.of(plan).groups[0].routes[0]
        deployment_health.later(deployment_health.started, route)
        await litellm.acompletion(
            model=route.model, messages=MESSAGES, mock_response=route.mock_response
        )
        deployment_health.later(deployment_health.finished, route, latency_ms=1)

    async def routed() -> None:
        await pool.acompletion(model="pool", messages=MESSAGES)

    steps = {"bare": bare, "ours": ours, "router": routed}
    for _ in range(50):  # warm
        for step in steps.values():
            await step()
    for _ in range(calls):
        for name, step in steps.items():
            started = time.perf_counter()
            await step()
            timings[name].append((time.perf_counter() - started) * 1000)
    deployment_health.written()
    bare_p50 = statistics.median(timings["bare"])
    return {
        "calls": calls,
        "shared_state": "redis" if os.environ.get("REDIS_URL") else "process",
        "bare_p50_ms": bare_p50,
        "ours_routing_p50_ms": statistics.median(timings["ours"]) - bare_p50,
        "router_routing_p50_ms": statistics.median(timings["router"]) - bare_p50,
    }


if __name__ == "__main__":
    logging.getLogger("LiteLLM Router").setLevel(logging.WARNING)
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    measured = asyncio.run(measure(calls))
    sys.stdout.write("\n" + json.dumps(measured) + "\n")  # the last line
