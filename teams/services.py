"""Writes of the teams app: organizations, teams, virtual keys and the catalogue.

Every function owns its transaction and writes an audit entry; none ever logs or
stores a plaintext key. Functions that issue a key return it once, in an IssuedKey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from saas_litellm.exceptions import Conflict, InvalidInput, NotFound
from teams.keys import virtual_key_digest, virtual_key_display, virtual_key_generate
from teams.models import (
    AuditLog,
    ModelAccessGroup,
    Organization,
    Team,
    VirtualKey,
)

DEFAULT_ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: the plaintext exists only in this object."""

    key: VirtualKey
    plaintext: str


def audit_log_write(
    *,
    actor: str,
    action: str,
    obj: Any,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Record an admin action. Callers pass only non-secret fields."""
    return AuditLog.objects.create(
        actor=str(actor)[:200],
        action=action,
        object_type=type(obj).__name__,
        object_id=str(object_id),
        before=before,
        after=after,
    )


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


def virtual_key_issue(
    *,
    team: Team,
    name: str = "default",
    expires_at: datetime | None = None,
    rotated_from: VirtualKey | None = None,
) -> IssuedKey:
    """Generate a key and store only its digest. The caller owns the transaction."""
    plaintext = virtual_key_generate()
    key = VirtualKey.objects.create(
        team=team,
        name=name,
        digest=virtual_key_digest(plaintext),
        key_prefix=virtual_key_display(plaintext),
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return IssuedKey(key=key, plaintext=plaintext)


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


def virtual_key_create(
    *, team: Team, actor: str, name: str = "default", expires_at: datetime | None = None
) -> IssuedKey:
    """Issue another key for a team."""
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future")
    with transaction.atomic():
        issued = virtual_key_issue(team=team, name=name, expires_at=expires_at)
        audit_log_write(
            actor=actor,
            action="key.create",
            obj=issued.key,
            object_id=str(issued.key.key_id),
            after={
                "team_id": team.team_id,
                "name": name,
                "key_prefix": issued.key.key_prefix,
            },
        )
    return issued
