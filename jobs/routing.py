"""Routing: which deployments may answer an alias, in which order.

`route_plan` turns the alias a team asked for into a plan: the alias's deployments,
then each fallback alias's, each deployment a Route (a litellm model string, the
provider credential decrypted in memory, an optional api_base, its weight, caps and
prices). Plans are kept per process while the catalogue version read with the
caller's key is unchanged (PostgreSQL: triggers move the version on every catalogue
change), so the hot path reads no catalogue rows.

`plan_fitting` leaves out the deployments whose context window the prompt exceeds
(to the alias's `context_window_fallback`, or a 400, when none of the alias's is
left). `attempt_order` orders each alias's deployments by its strategy, leaving out
those cooling down or at their caps (jobs.deployment_health): `weighted` draws by
weight, `least_busy` takes the fewest requests in flight across all processes,
`lowest_latency` the best recent latency (untried deployments first, to learn
theirs). jobs.gateway then tries them in that order.

Hand-built rather than litellm's Router: the plan is a few lines on top of what the
catalogue already resolves (credentials per organization, fallbacks, prices), it
keeps the gateway's direct path to OpenAI-compatible providers (the Router only
calls litellm.acompletion), and its state lives in the cache the rate limits use.
`make bench` measures both (README, "Routing").
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import litellm
from django.conf import settings
from django.db import connection
from django.db.models import Q

from jobs import deployment_health
from saas_litellm import metrics
from saas_litellm.exceptions import (
    ContextWindowExceeded,
    DeploymentsUnavailable,
    InvalidInput,
    ModelAccessDenied,
)
from teams.keys import credential_decrypt
from teams.models import (
    DeploymentFields,
    ModelAlias,
    ProviderCredential,
    RoutingStrategy,
    Team,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """One deployment of an alias. `api_key` is plaintext: keep it in memory only.
    `deployment` names it in the shared health state (`a<alias id>` for the alias's
    own, `d<id>` for a further one); `position` is its place in the alias (0: the
    alias's own)."""

    alias: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    mock_response: str | None = None
    pricing_input: Decimal | None = None
    pricing_output: Decimal | None = None
    max_output_tokens: int | None = None
    deployment: str = ""
    position: int = 0
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None

    @property
    def label(self) -> str:
        """What the request log shows: the alias and the deployment's position."""
        return f"{self.alias}#{self.position}"


@dataclass(frozen=True)
class AliasRoutes:
    """An alias's deployments, and how it shares the traffic among them."""

    alias: str
    strategy: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class RoutePlan:
    """The requested alias's deployments, then each fallback alias's."""

    groups: tuple[AliasRoutes, ...]
    context_window_fallback: str = ""

    @property
    def routes(self) -> list[Route]:
        return [route for group in self.groups for route in group.routes]

    @property
    def tracked(self) -> bool:
        """Whether the deployments' health is worth reading: there is a choice to
        make, or a cap to keep."""
        routes = self.routes
        return len(routes) > 1 or any(r.rpm or r.tpm for r in routes)


def _alias_allowed(team: Team, alias_name: str) -> ModelAlias | None:
    return (
        ModelAlias.objects.filter(
            model_alias=alias_name,
            is_active=True,
            access_groups__is_active=True,
            access_groups__teams=team,
        )
        .distinct()
        .first()
    )


def _credentials_for(
    deployment: DeploymentFields, provider: str, team: Team | None
) -> list[ProviderCredential]:
    """The credentials a call may use: the deployment's own if it names one (if
    active); else the team's organization's then a global one, first that exists.
    Without a team (an operator's check): every organization's and the global."""
    if deployment.credential_id is not None:
        credential = deployment.credential
        return [credential] if credential.is_active else []
    owners = Q(organization__isnull=True)
    if team is None:
        owners |= Q(organization__isnull=False)
    else:
        owners |= Q(organization_id=team.organization_id)
    candidates = ProviderCredential.objects.filter(
        owners, provider=provider, is_active=True
    ).order_by("organization_id", "credential_name")
    if team is None:
        return list(candidates)
    # Non-null organization (the team's own) sorts first on PostgreSQL and SQLite.
    own = [c for c in candidates if c.organization_id is not None]
    return own[:1] or list(candidates)[:1]


def _route_for(
    alias: ModelAlias,
    deployment: DeploymentFields,
    credential: ProviderCredential | None,
) -> Route:
    api_key = None
    if credential is not None and credential.encrypted_api_key:
        try:
            api_key = credential_decrypt(credential.encrypted_api_key)
        except ValueError:
            logger.error("credential %s cannot be decrypted", credential.credential_id)
    api_base = deployment.api_base or (credential.api_base if credential else "")
    return Route(
        alias=alias.model_alias,
        model=deployment.actual_model,
        api_key=api_key,
        api_base=api_base or None,
        mock_response=alias.mock_response or None,
        pricing_input=deployment.pricing_input,
        pricing_output=deployment.pricing_output,
        max_output_tokens=alias.max_output_tokens,
        deployment=deployment_name(deployment),
        position=deployment.position,
        weight=deployment.weight,
        rpm=deployment.rpm,
        tpm=deployment.tpm,
    )


def deployment_name(deployment: DeploymentFields) -> str:
    """The deployment's key in the shared health state: `a<id>` for an alias's
    own, `d<id>` for a further one (stable while other deployments change)."""
    prefix = "a" if isinstance(deployment, ModelAlias) else "d"
    return f"{prefix}{deployment.pk}"


def _deployments(alias: ModelAlias) -> list[DeploymentFields]:
    return [alias, *alias.deployments.select_related("credential")]


def _alias_routes(alias: ModelAlias, team: Team) -> AliasRoutes:
    """The alias's deployments as routes, with the credentials `team` uses."""
    routes = []
    for deployment in _deployments(alias):
        credentials = _credentials_for(deployment, alias.provider, team)
        routes.append(_route_for(alias, deployment, next(iter(credentials), None)))
    return AliasRoutes(alias.model_alias, alias.routing_strategy, tuple(routes))


def routes_to_check(alias: ModelAlias) -> list[tuple[Route, str]]:
    """Each deployment of the alias with each credential a call may use (named;
    "" when none applies), for an operator's check."""
    checked = []
    for deployment in _deployments(alias):
        credentials = _credentials_for(deployment, alias.provider, None) or [None]
        for credential in credentials:
            name = credential.credential_name if credential else ""
            checked.append((_route_for(alias, deployment, credential), name))
    return checked


# (team, its organization, alias, whether the team's access was checked) ->
# (catalogue version, plan), per process. An entry is used only while the version
# read with the caller's key is the one it was built under.
_route_plans: dict[tuple[int, int, str, bool], tuple[int, RoutePlan]] = {}
_ROUTE_PLANS_MAX = 10_000


def route_plan(*, team: Team, alias_name: str, checked: bool = True) -> RoutePlan:
    """The alias (if the team may use it) followed by its active fallbacks.

    An unknown alias and a forbidden one get the same ModelAccessDenied, so a team
    cannot enumerate the catalogue. Fallbacks (and a context-window fallback,
    `checked=False`) are the operator's choice and need not be in the team's access
    groups, but inactive ones are skipped. When the team carries the catalogue
    version (authentication reads it), a plan built under the same version is
    reused: no catalogue change can have happened since.
    """
    version = team.catalogue_version
    if version is None or connection.vendor != "postgresql":  # no triggers elsewhere
        return _route_plan_build(team, alias_name, checked)
    key = (team.pk, team.organization_id, alias_name, checked)
    cached = _route_plans.get(key)
    if cached is not None and cached[0] == version:
        metrics.catalogue_cache_lookup("hit")
        return cached[1]
    metrics.catalogue_cache_lookup("miss")
    plan = _route_plan_build(team, alias_name, checked)
    if len(_route_plans) >= _ROUTE_PLANS_MAX:
        _route_plans.clear()
    _route_plans[key] = (version, plan)
    return plan


def _route_plan_build(team: Team, alias_name: str, checked: bool) -> RoutePlan:
    if checked:
        alias = _alias_allowed(team, alias_name)
    else:
        alias = ModelAlias.objects.filter(
            model_alias=alias_name, is_active=True
        ).first()
    if alias is None:
        raise ModelAccessDenied()
    groups = [_alias_routes(alias, team)]
    names = [name for name in alias.fallbacks or [] if isinstance(name, str)]
    fallbacks = {
        a.model_alias: a
        for a in ModelAlias.objects.filter(model_alias__in=names, is_active=True)
    }
    for name in dict.fromkeys(names):
        if name in fallbacks and name != alias.model_alias:
            groups.append(_alias_routes(fallbacks[name], team))
    return RoutePlan(tuple(groups), alias.context_window_fallback)


def output_tokens_limit(route: Route) -> int:
    return min(
        route.max_output_tokens or settings.LLM_MAX_TOKENS_LIMIT,
        settings.LLM_MAX_TOKENS_LIMIT,
    )


def call_routes(*, team: Team, alias_name: str, max_tokens: int | None) -> RoutePlan:
    """The plan for the requested alias, refusing a max_tokens the model cannot do."""
    plan = route_plan(team=team, alias_name=alias_name)
    limit = output_tokens_limit(plan.groups[0].routes[0])
    if max_tokens is not None and max_tokens > limit:
        raise InvalidInput(f"max_tokens must be at most {limit} for this model")
    return plan


# --- Context windows ------------------------------------------------------------------


@lru_cache(maxsize=1024)
def context_window(model: str) -> int | None:
    """The most input tokens the model takes, by litellm's model table (None:
    unknown, so not checked)."""
    try:
        info = litellm.get_model_info(model)
    except Exception:  # not in litellm's table
        return None
    limit = info.get("max_input_tokens") or info.get("max_tokens")
    return int(limit) if limit else None


def _fits(route: Route, prompt_tokens: int) -> bool:
    limit = context_window(route.model)
    return limit is None or prompt_tokens <= limit


def plan_fitting(
    plan: RoutePlan, *, team: Team, prompt_tokens: int, hops: int = 0
) -> RoutePlan:
    """The plan without the deployments the prompt does not fit. When none of the
    requested alias's fits: the alias's context-window fallback, else a 400 naming
    the limit (nothing is sent)."""
    if all(_fits(route, prompt_tokens) for route in plan.routes):
        return plan
    groups = [
        AliasRoutes(
            group.alias,
            group.strategy,
            tuple(r for r in group.routes if _fits(r, prompt_tokens)),
        )
        for group in plan.groups
    ]
    if groups[0].routes:
        return RoutePlan(
            tuple(group for group in groups if group.routes),
            plan.context_window_fallback,
        )
    if plan.context_window_fallback and hops < 3:
        try:
            fallback = route_plan(
                team=team, alias_name=plan.context_window_fallback, checked=False
            )
        except ModelAccessDenied:  # deleted or deactivated since
            pass
        else:
            return plan_fitting(
                fallback, team=team, prompt_tokens=prompt_tokens, hops=hops + 1
            )
    limit = max(context_window(route.model) or 0 for route in plan.groups[0].routes)
    raise ContextWindowExceeded(
        f"The prompt has about {prompt_tokens} tokens; this model takes at most "
        f"{limit} tokens of input"
    )


# --- Order of attempts ----------------------------------------------------------------


def _weighted(routes: list[Route]) -> list[Route]:
    """A random order in which each route comes first in proportion to its weight."""
    left, ordered = list(routes), []
    while left:
        chosen = random.choices(left, weights=[r.weight for r in left])[0]  # noqa: S311 - load spreading, not security
        ordered.append(chosen)
        left.remove(chosen)
    return ordered


def _ordered(
    group: AliasRoutes, states: dict[str, deployment_health.DeploymentState]
) -> list[Route]:
    routes = _weighted(list(group.routes))  # random among equals, too
    if group.strategy == RoutingStrategy.LEAST_BUSY:
        routes.sort(key=lambda r: states[r.deployment].in_flight)
    elif group.strategy == RoutingStrategy.LOWEST_LATENCY:
        routes.sort(key=lambda r: states[r.deployment].latency_ms or 0.0)
    return routes


def attempt_order(plan: RoutePlan) -> list[AliasRoutes]:
    """Each alias's deployments in the order to try them, without those cooling
    down or at their caps; none left anywhere → DeploymentsUnavailable (503 with
    the time until the first is back)."""
    if not plan.tracked:
        return list(plan.groups)
    reads = {name for g in plan.groups for name in deployment_health.READS[g.strategy]}
    if any(r.rpm for r in plan.routes):
        reads.add("requests")
    if any(r.tpm for r in plan.routes):
        reads.add("tokens")
    states = deployment_health.states([r.deployment for r in plan.routes], reads)
    ordered = []
    for group in plan.groups:
        usable = AliasRoutes(
            group.alias,
            group.strategy,
            tuple(
                route
                for route in group.routes
                if not states[route.deployment].cooling_for
                and not states[route.deployment].over_caps(route)
            ),
        )
        if usable.routes:
            ordered.append(
                AliasRoutes(
                    group.alias, group.strategy, tuple(_ordered(usable, states))
                )
            )
    if not ordered:
        waits = [s.cooling_for for s in states.values() if s.cooling_for]
        raise DeploymentsUnavailable(retry_after=min(waits) if waits else 60)
    return ordered


@dataclass
class Attempts:
    """The deployments a call may try, alias by alias in order, and what happened
    at each (`log`: deployment, model, outcome, latency; operator-only)."""

    groups: list[AliasRoutes]
    tracked: bool = False
    log: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, plan: RoutePlan) -> Attempts:
        return cls(attempt_order(plan), tracked=plan.tracked)

    @classmethod
    def in_order(cls, routes: list[Route]) -> Attempts:
        """Exactly these routes, in this order, untracked."""
        return cls(
            [AliasRoutes(r.alias, RoutingStrategy.WEIGHTED, (r,)) for r in routes]
        )

    def record(self, route: Route, outcome: str, latency_ms: int) -> None:
        self.log.append(
            {
                "deployment": route.label,
                "model": route.model,
                "outcome": outcome,
                "latency_ms": latency_ms,
            }
        )
