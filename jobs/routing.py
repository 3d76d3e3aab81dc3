"""Routing: which deployments may answer an alias, with their credentials.

`route_plan` turns the alias a team asked for into an ordered list of routes (the alias
and its fallbacks): a litellm model string, the provider credential decrypted in memory
and an optional api_base. Plans are kept per process while the catalogue version read
with the caller's key is unchanged (PostgreSQL: triggers move the version on every
catalogue change), so the hot path reads no catalogue rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Q

from saas_litellm import metrics
from saas_litellm.exceptions import InvalidInput, ModelAccessDenied
from teams.keys import credential_decrypt
from teams.models import ModelAlias, ProviderCredential, Team

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """One way to answer an alias. `api_key` is plaintext: keep it in memory only."""

    alias: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    api_base: str | None = None
    mock_response: str | None = None
    pricing_input: Decimal | None = None
    pricing_output: Decimal | None = None
    max_output_tokens: int | None = None


def _alias_allowed(team: Team, alias_name: str) -> ModelAlias | None:
    return (
        ModelAlias.objects.select_related("credential")
        .filter(
            model_alias=alias_name,
            is_active=True,
            access_groups__is_active=True,
            access_groups__teams=team,
        )
        .distinct()
        .first()
    )


def _credential_for(alias: ModelAlias, team: Team) -> ProviderCredential | None:
    """The alias's own credential, else the organization's, else a global one."""
    if alias.credential_id is not None:
        return alias.credential if alias.credential.is_active else None
    candidates = ProviderCredential.objects.filter(
        Q(organization_id=team.organization_id) | Q(organization__isnull=True),
        provider=alias.provider,
        is_active=True,
    ).order_by("organization_id", "credential_name")
    # Non-null organization (the team's own) sorts first on PostgreSQL and SQLite.
    own = [c for c in candidates if c.organization_id is not None]
    return own[0] if own else next(iter(candidates), None)


def _route_for(alias: ModelAlias, team: Team) -> Route:
    credential = _credential_for(alias, team)
    api_key = None
    if credential is not None and credential.encrypted_api_key:
        try:
            api_key = credential_decrypt(credential.encrypted_api_key)
        except ValueError:
            logger.error("credential %s cannot be decrypted", credential.credential_id)
    api_base = alias.api_base or (credential.api_base if credential else "") or None
    return Route(
        alias=alias.model_alias,
        model=alias.actual_model,
        api_key=api_key,
        api_base=api_base,
        mock_response=alias.mock_response or None,
        pricing_input=alias.pricing_input,
        pricing_output=alias.pricing_output,
        max_output_tokens=alias.max_output_tokens,
    )


# (team, its organization, alias) -> (catalogue version, routes), per process. An
# entry is used only while the version read with the caller's key is the one it
# was built under.
_route_plans: dict[tuple[int, int, str], tuple[int, tuple[Route, ...]]] = {}
_ROUTE_PLANS_MAX = 10_000


def route_plan(*, team: Team, alias_name: str) -> list[Route]:
    """The alias (if the team may use it) followed by its active fallbacks.

    An unknown alias and a forbidden one get the same ModelAccessDenied, so a team
    cannot enumerate the catalogue. Fallbacks are the operator's choice and need not
    be in the team's access groups, but inactive ones are skipped. When the team
    carries the catalogue version (authentication reads it), a plan built under
    the same version is reused: no catalogue change can have happened since.
    """
    version = team.catalogue_version
    if version is None or connection.vendor != "postgresql":  # no triggers elsewhere
        return _route_plan_build(team, alias_name)
    key = (team.pk, team.organization_id, alias_name)
    cached = _route_plans.get(key)
    if cached is not None and cached[0] == version:
        metrics.catalogue_cache_lookup("hit")
        return list(cached[1])
    metrics.catalogue_cache_lookup("miss")
    routes = _route_plan_build(team, alias_name)
    if len(_route_plans) >= _ROUTE_PLANS_MAX:
        _route_plans.clear()
    _route_plans[key] = (version, tuple(routes))
    return routes


def _route_plan_build(team: Team, alias_name: str) -> list[Route]:
    alias = _alias_allowed(team, alias_name)
    if alias is None:
        raise ModelAccessDenied()
    routes = [_route_for(alias, team)]
    names = [name for name in alias.fallbacks or [] if isinstance(name, str)]
    fallbacks = {
        a.model_alias: a
        for a in ModelAlias.objects.select_related("credential").filter(
            model_alias__in=names, is_active=True
        )
    }
    for name in dict.fromkeys(names):
        if name in fallbacks and name != alias.model_alias:
            routes.append(_route_for(fallbacks[name], team))
    return routes


def output_tokens_limit(route: Route) -> int:
    return min(
        route.max_output_tokens or settings.LLM_MAX_TOKENS_LIMIT,
        settings.LLM_MAX_TOKENS_LIMIT,
    )


def call_routes(*, team: Team, alias_name: str, max_tokens: int | None) -> list[Route]:
    """The routes for the requested alias, refusing a max_tokens the model cannot do."""
    routes = route_plan(team=team, alias_name=alias_name)
    limit = output_tokens_limit(routes[0])
    if max_tokens is not None and max_tokens > limit:
        raise InvalidInput(f"max_tokens must be at most {limit} for this model")
    return routes
