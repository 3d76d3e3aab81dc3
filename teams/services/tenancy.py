"""Organizations and teams: creation, status and access groups."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from saas_litellm.exceptions import Conflict, InvalidInput, NotFound
from teams.models import ModelAccessGroup, ModelAlias, Organization, Team, TeamStatus
from teams.services.audit import audit_log_write
from teams.services.keys import IssuedKey, virtual_key_issue
from teams.signals import team_status_changed


def organization_create(
    *,
    organization_id: str,
    name: str,
    metadata: dict[str, Any] | None = None,
    actor: str,
) -> Organization:
    """Create an organization; a taken id is a Conflict."""
    try:
        with transaction.atomic():
            organization = Organization.objects.create(
                organization_id=organization_id, name=name, metadata=metadata or {}
            )
            audit_log_write(
                actor=actor,
                action="organization.create",
                obj=organization,
                object_id=organization_id,
                after={"name": name},
            )
    except IntegrityError:
        raise Conflict(f"Organization '{organization_id}' already exists") from None
    return organization


ORGANIZATION_FIELDS = ("name", "metadata")


def organization_update(
    *, organization: Organization, actor: str, **fields: Any
) -> Organization:
    """Change an organization's name or metadata; its id never changes."""
    unknown = set(fields) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown organization field(s): {', '.join(sorted(unknown))}"
        )
    with transaction.atomic():
        # The stored row, not the caller's copy (an admin form has already set the
        # new values on it), so that the audit log's "before" is what was stored.
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        before = {name: getattr(locked, name) for name in fields}
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.full_clean(validate_unique=False)
        locked.save()
        audit_log_write(
            actor=actor,
            action="organization.update",
            obj=locked,
            object_id=locked.organization_id,
            before=before,
            after=dict(fields),
        )
    return locked


def organization_delete(*, organization: Organization, actor: str) -> None:
    """Delete an organization; refused (Conflict, code organization_in_use) while it
    has teams or provider credentials."""
    with transaction.atomic():
        # Locked: a team or credential created meanwhile waits for this to commit,
        # then fails on its foreign key instead of pointing at nothing.
        locked = Organization.objects.select_for_update().get(pk=organization.pk)
        users = [
            *locked.teams.order_by("team_id").values_list("team_id", flat=True)[:10],
            *locked.provider_credentials.order_by("credential_name").values_list(
                "credential_name", flat=True
            )[:10],
        ]
        if users:
            raise Conflict(
                f"Organization '{locked.organization_id}' still has teams or "
                f"provider credentials: {', '.join(users)}",
                code="organization_in_use",
            )
        audit_log_write(
            actor=actor,
            action="organization.delete",
            obj=locked,
            object_id=locked.organization_id,
            before={"name": locked.name},
        )
        locked.delete()


def access_groups_resolve(*, group_names: list[str]) -> list[ModelAccessGroup]:
    """The access groups named, in order; any unknown name is a NotFound."""
    groups = {
        g.group_name: g
        for g in ModelAccessGroup.objects.filter(group_name__in=group_names)
    }
    missing = [name for name in group_names if name not in groups]
    if missing:
        raise NotFound(f"Access group(s) not found: {', '.join(sorted(set(missing)))}")
    return [groups[name] for name in dict.fromkeys(group_names)]


def team_create(
    *,
    organization: Organization,
    team_id: str,
    actor: str,
    team_alias: str = "",
    access_groups: list[ModelAccessGroup] | None = None,
    key_name: str = "default",
    **settings_fields: Any,
) -> IssuedKey:
    """Create a team with its first virtual key. A taken team_id is a Conflict.

    `settings_fields` are Team fields such as budget_mode or tokens_per_credit. The
    caller may wrap this in a larger transaction (credits' onboarding does).
    """
    try:
        with transaction.atomic():
            team = Team(
                organization=organization,
                team_id=team_id,
                team_alias=team_alias,
                **settings_fields,
            )
            team.full_clean(exclude=["organization"], validate_unique=False)
            team.save()
            if access_groups:
                team.access_groups.set(access_groups)
            issued = virtual_key_issue(team=team, name=key_name)
            audit_log_write(
                actor=actor,
                action="team.create",
                obj=team,
                object_id=team_id,
                after={
                    "organization_id": organization.organization_id,
                    "access_groups": [g.group_name for g in access_groups or []],
                    "key_prefix": issued.key.key_prefix,
                },
            )
    except IntegrityError:
        raise Conflict(f"Team '{team_id}' already exists") from None
    return issued


def team_status_set(*, team: Team, status: str, actor: str) -> Team:
    """Suspend, pause or resume a team. Setting the status it already has is a no-op
    that is still audit-logged, so the operator's intent is on record."""
    if status not in TeamStatus.values:
        raise InvalidInput(f"Unknown team status '{status}'")
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        before = locked.status
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        audit_log_write(
            actor=actor,
            action=f"team.status.{status}",
            obj=locked,
            object_id=locked.team_id,
            before={"status": before},
            after={"status": status},
        )
        team_status_changed.send(sender=Team, team=locked, before=before, after=status)
    team.status = status
    return team


def team_access_groups_set(*, team: Team, group_names: list[str], actor: str) -> Team:
    """Replace a team's access groups. Any unknown group → NotFound, nothing changed."""
    groups = access_groups_resolve(group_names=group_names)
    with transaction.atomic():
        before = sorted(team.access_groups.values_list("group_name", flat=True))
        team.access_groups.set(groups)
        audit_log_write(
            actor=actor,
            action="team.access_groups.set",
            obj=team,
            object_id=team.team_id,
            before={"access_groups": before},
            after={"access_groups": [g.group_name for g in groups]},
        )
    return team


def team_allowed_models(*, team: Team) -> list[ModelAlias]:
    """Active aliases reachable through the team's active access groups."""
    return list(
        ModelAlias.objects.filter(
            is_active=True, access_groups__is_active=True, access_groups__teams=team
        )
        .distinct()
        .order_by("model_alias")
    )
