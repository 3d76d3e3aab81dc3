"""Team onboarding and settings, and the team listings the credits API shows.

These write Team rows, which belong to `teams`; they live here because they are tied to
the ledger (the initial allocation) and `teams` may not import `credits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from credits.models import CreditAccount, EntryType
from credits.services.ledger import _validate_credits, credit_account_get, credit_add
from saas_litellm.exceptions import InvalidInput, NotFound
from teams.models import BudgetMode, ModelAccessGroup, ModelAlias, Organization, Team
from teams.services import (
    IssuedKey,
    access_groups_resolve,
    audit_log_write,
    catalogue_lock,
    team_create,
)

TEAM_SETTING_FIELDS = (
    "team_alias",
    "budget_mode",
    "tokens_per_credit",
    "credits_per_dollar",
    "markup_percent",
    "requests_per_minute",
    "tokens_per_minute",
    "max_parallel_requests",
    "metadata",
    "timezone",
    "payload_log_days",
)


@dataclass(frozen=True)
class OnboardedTeam:
    """A new team, its first key (plaintext only here) and its funded account."""

    issued: IssuedKey
    account: CreditAccount

    @property
    def team(self) -> Team:
        return self.issued.key.team


def team_onboard(
    *,
    organization_id: str,
    team_id: str,
    actor: str,
    access_groups: list[str] | None = None,
    credits_allocated: int = 0,
    **settings_fields: Any,
) -> OnboardedTeam:
    """Create a team, its first key and its initial allocation in one transaction.

    Unknown organization or access group → NotFound; a taken team id → Conflict. When
    anything fails nothing is left behind: no team, no key, no ledger entry.
    """
    if credits_allocated:
        _validate_credits(credits_allocated, name="credits_allocated")
    organization = Organization.objects.filter(organization_id=organization_id).first()
    if organization is None:
        raise NotFound(f"Organization '{organization_id}' not found")
    groups: list[ModelAccessGroup] = access_groups_resolve(
        group_names=list(access_groups or [])
    )
    with transaction.atomic():
        issued = team_create(
            organization=organization,
            team_id=team_id,
            actor=actor,
            access_groups=groups,
            **settings_fields,
        )
        team = issued.key.team
        account = credit_account_get(team=team)
        if credits_allocated:
            credit_add(
                team=team,
                credits=credits_allocated,
                entry_type=EntryType.ALLOCATION,
                reason="initial allocation",
                actor=actor,
            )
            account.refresh_from_db()
    return OnboardedTeam(issued=issued, account=account)


def _team_settings_state(team: Team) -> dict[str, Any]:
    """The settings as JSON for the audit log (Decimals as exact strings)."""
    return {
        field: str(value) if isinstance(value, Decimal) else value
        for field in TEAM_SETTING_FIELDS
        for value in [getattr(team, field)]
    }


def team_settings_update(
    *,
    team: Team,
    actor: str,
    access_groups: list[str] | None = None,
    **fields: Any,
) -> Team:
    """Change a team's alias, access groups, budget mode and rates, or rate limits.

    Only the fields given change. Values are validated by the model's own validators;
    any error leaves the team as it was.
    """
    unknown = set(fields) - set(TEAM_SETTING_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown team setting(s): {', '.join(sorted(unknown))}")
    if "budget_mode" in fields and fields["budget_mode"] not in BudgetMode.values:
        raise InvalidInput(
            f"budget_mode must be one of: {', '.join(BudgetMode.values)}"
        )
    groups = (
        access_groups_resolve(group_names=access_groups)
        if access_groups is not None
        else None
    )
    with transaction.atomic():
        if groups is not None:
            catalogue_lock()  # before the team row: the groups are catalogue
        locked = (
            Team.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=team.pk)
        )
        before = _team_settings_state(locked)
        before_groups = sorted(
            locked.access_groups.values_list("group_name", flat=True)
        )
        for field, value in fields.items():
            setattr(locked, field, value)
        locked.full_clean(exclude=["organization"], validate_unique=False)
        locked.save()
        if groups is not None:
            locked.access_groups.set(groups)
        audit_log_write(
            actor=actor,
            action="team.update",
            obj=locked,
            object_id=locked.team_id,
            before={**before, "access_groups": before_groups},
            after={
                **_team_settings_state(locked),
                "access_groups": sorted(
                    locked.access_groups.values_list("group_name", flat=True)
                ),
            },
        )
    return locked


def team_budget_mode_set(
    *,
    team: Team,
    budget_mode: str,
    actor: str,
    tokens_per_credit: int | None = None,
    credits_per_dollar: Decimal | None = None,
    markup_percent: Decimal | None = None,
) -> Team:
    """Switch a team's budget mode and, optionally, its conversion rates."""
    rates = {
        name: value
        for name, value in (
            ("tokens_per_credit", tokens_per_credit),
            ("credits_per_dollar", credits_per_dollar),
            ("markup_percent", markup_percent),
        )
        if value is not None
    }
    return team_settings_update(
        team=team, actor=actor, budget_mode=budget_mode, **rates
    )


def team_allowed_model_names(*, team: Team) -> list[str]:
    """Active aliases reachable through the team's active access groups, sorted."""
    return list(
        ModelAlias.objects.filter(
            is_active=True, access_groups__is_active=True, access_groups__teams=team
        )
        .values_list("model_alias", flat=True)
        .distinct()
        .order_by("model_alias")
    )


def teams_with_accounts() -> Any:
    """Teams with what their listings show, in team_id order."""
    return (
        Team.objects.select_related("organization", "credit_account")
        .prefetch_related("access_groups", "keys")
        .order_by("team_id")
    )
