"""Checking deployments: one tiny request through each, so that an operator sees
a wrong key or a dead endpoint before a customer does (`manage.py check_models`,
the admin's "Test deployments" action). Nothing is recorded or billed; the error
shown is the sanitized one a call would record (no provider message)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import litellm

from jobs import gateway
from jobs.routing import Route, routes_to_check
from saas_litellm.exceptions import ProviderError
from teams.models import ModelAlias


@dataclass(frozen=True)
class DeploymentCheck:
    deployment: str  # alias#position
    model: str
    credential: str  # its name; "" when none applies
    ok: bool
    latency_ms: int
    error: str = ""


def _embeds(model: str) -> bool:
    try:
        return litellm.get_model_info(model).get("mode") == "embedding"
    except Exception:  # unknown to litellm: a chat model, as aliases mostly are
        return False


async def _checked(routes: list[tuple[Route, str]]) -> list[DeploymentCheck]:
    results = []
    for route, credential in routes:
        started = time.monotonic()
        try:
            await gateway.deployment_check(route, embeds=_embeds(route.model))
        except ProviderError as exc:
            error = f"{exc.code}: {getattr(exc, 'internal', '')}"
            ok = False
        else:
            error, ok = "", True
        results.append(
            DeploymentCheck(
                deployment=route.label,
                model=route.model,
                credential=credential,
                ok=ok,
                latency_ms=int((time.monotonic() - started) * 1000),
                error=error,
            )
        )
    return results


def deployments_check(*, aliases: list[ModelAlias]) -> list[DeploymentCheck]:
    """Every deployment of each alias, one after the other, with each credential a
    call may use: its own, else every organization's and the global one."""
    routes = [checked for alias in aliases for checked in routes_to_check(alias)]
    return asyncio.run(_checked(routes))
