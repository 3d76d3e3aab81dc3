"""Writes of the teams app: organizations, teams, virtual keys and the catalogue.

Every function owns its transaction and writes an audit entry; none ever logs or
stores a plaintext key. Functions that issue a key return it once, in an IssuedKey.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from saas_litellm.exceptions import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
)
from teams.keys import (
    credential_encrypt,
    virtual_key_digest,
    virtual_key_display,
    virtual_key_generate,
)
from teams.models import (
    AuditLog,
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
    Team,
    TeamStatus,
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


# --- Team status and access -----------------------------------------------------------


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
            is_active=True,
            access_groups__is_active=True,
            access_groups__teams=team,
        )
        .distinct()
        .order_by("model_alias")
    )


# --- Virtual keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class RotatedKey:
    """The outcome of a rotation. `plaintext` is None when an idempotent retry
    returned the key a previous request issued (its plaintext was shown then)."""

    key: VirtualKey
    old_key: VirtualKey
    plaintext: str | None

    @property
    def replayed(self) -> bool:
        return self.plaintext is None


def virtual_key_get(*, team: Team, key_id: str | uuid.UUID) -> VirtualKey:
    """One of the team's keys; a malformed or unknown id (or another team's) → 404."""
    try:
        key_uuid = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(str(key_id))
    except ValueError:
        raise NotFound(f"Key '{key_id}' not found") from None
    key = VirtualKey.objects.filter(team=team, key_id=key_uuid).first()
    if key is None:
        raise NotFound(f"Key '{key_id}' not found")
    return key


def _rotation_replay(
    *, team: Team, idempotency_key: str, old_key_id: uuid.UUID, grace_seconds: int
) -> RotatedKey | None:
    previous = (
        VirtualKey.objects.select_related("rotated_from")
        .filter(team=team, idempotency_key=idempotency_key)
        .first()
    )
    if previous is None:
        return None
    if (
        previous.rotated_from is None
        or previous.rotated_from.key_id != old_key_id
        or previous.rotation_grace_seconds != grace_seconds
    ):
        raise IdempotencyMismatch()
    return RotatedKey(key=previous, old_key=previous.rotated_from, plaintext=None)


def virtual_key_rotate(
    *,
    team: Team,
    key_id: str | uuid.UUID,
    actor: str,
    grace_seconds: int = int(DEFAULT_ROTATION_GRACE.total_seconds()),
    idempotency_key: str | None = None,
) -> RotatedKey:
    """Issue a successor for a key; the old one stays valid for `grace_seconds`.

    The old key's expiry becomes the earlier of its own and now + grace (0 revokes it
    at once). A revoked, expired or already rotated key cannot be rotated (Conflict).
    With an `idempotency_key`, a retry with the same key and grace returns the key the
    first request issued, without plaintext; a different key or grace → 422.
    """
    if grace_seconds < 0:
        raise InvalidInput("grace_seconds must be 0 or more")
    old_key = virtual_key_get(team=team, key_id=key_id)
    try:
        with transaction.atomic():
            # The row lock serialises concurrent rotations (and retries) of one key.
            old_key = VirtualKey.objects.select_for_update().get(pk=old_key.pk)
            if idempotency_key is not None:
                replay = _rotation_replay(
                    team=team,
                    idempotency_key=idempotency_key,
                    old_key_id=old_key.key_id,
                    grace_seconds=grace_seconds,
                )
                if replay is not None:
                    return replay
            now = timezone.now()
            if not old_key.is_usable(now):
                raise Conflict(f"Key '{old_key.key_id}' is revoked or expired")
            if VirtualKey.objects.filter(rotated_from=old_key).exists():
                raise Conflict(f"Key '{old_key.key_id}' was already rotated")
            before = _key_state(old_key)
            if grace_seconds == 0:
                old_key.revoked_at = now
            else:
                grace_end = now + timedelta(seconds=grace_seconds)
                if old_key.expires_at is None or old_key.expires_at > grace_end:
                    old_key.expires_at = grace_end
            old_key.save(update_fields=["revoked_at", "expires_at"])
            issued = virtual_key_issue(
                team=team, name=old_key.name, rotated_from=old_key
            )
            new_key = issued.key
            new_key.idempotency_key = idempotency_key
            new_key.rotation_grace_seconds = grace_seconds
            new_key.save(update_fields=["idempotency_key", "rotation_grace_seconds"])
            audit_log_write(
                actor=actor,
                action="key.rotate",
                obj=old_key,
                object_id=str(old_key.key_id),
                before=before,
                after={
                    **_key_state(old_key),
                    "team_id": team.team_id,
                    "grace_seconds": grace_seconds,
                    "new_key_id": str(new_key.key_id),
                    "new_key_prefix": new_key.key_prefix,
                },
            )
    except IntegrityError:
        # Another request with the same Idempotency-Key (for another key) won the race.
        if idempotency_key is None:
            raise
        replay = _rotation_replay(
            team=team,
            idempotency_key=idempotency_key,
            old_key_id=old_key.key_id,
            grace_seconds=grace_seconds,
        )
        if replay is None:
            raise
        return replay
    return RotatedKey(key=new_key, old_key=old_key, plaintext=issued.plaintext)


def virtual_key_revoke(
    *, team: Team, key_id: str | uuid.UUID, actor: str
) -> VirtualKey:
    """Revoke a key at once. Revoking a revoked key changes nothing."""
    key = virtual_key_get(team=team, key_id=key_id)
    with transaction.atomic():
        key = VirtualKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        before = _key_state(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log_write(
            actor=actor,
            action="key.revoke",
            obj=key,
            object_id=str(key.key_id),
            before=before,
            after={**_key_state(key), "team_id": team.team_id},
        )
    return key


def _key_state(key: VirtualKey) -> dict[str, Any]:
    return {
        "key_prefix": key.key_prefix,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


# --- Model catalogue ------------------------------------------------------------------


def _aliases_resolve(
    *, aliases: list[str], what: str = "Model alias"
) -> list[ModelAlias]:
    found = {
        a.model_alias: a for a in ModelAlias.objects.filter(model_alias__in=aliases)
    }
    missing = sorted({name for name in aliases if name not in found})
    if missing:
        raise NotFound(f"{what}(es) not found: {', '.join(missing)}")
    return [found[name] for name in dict.fromkeys(aliases)]


def provider_credential_get(*, credential: str) -> ProviderCredential:
    """A credential by its UUID or its name; unknown → NotFound."""
    query = Q(credential_name=credential)
    with contextlib.suppress(ValueError):
        query |= Q(credential_id=uuid.UUID(str(credential)))
    found = ProviderCredential.objects.filter(query).first()
    if found is None:
        raise NotFound(f"Provider credential '{credential}' not found")
    return found


def _alias_state(alias: ModelAlias) -> dict[str, Any]:
    return {
        "provider": alias.provider,
        "actual_model": alias.actual_model,
        "access_groups": sorted(g.group_name for g in alias.access_groups.all()),
        "pricing_input": None
        if alias.pricing_input is None
        else str(alias.pricing_input),
        "pricing_output": (
            None if alias.pricing_output is None else str(alias.pricing_output)
        ),
        "fallbacks": alias.fallbacks,
        "credential": alias.credential.credential_name if alias.credential else None,
        "api_base": alias.api_base,
        "is_active": alias.is_active,
    }


def _alias_apply(
    alias: ModelAlias, fields: dict[str, Any]
) -> list[ModelAccessGroup] | None:
    """Copy validated fields onto an alias; return the access groups to set."""
    groups = None
    if "access_groups" in fields:
        groups = access_groups_resolve(group_names=fields.pop("access_groups"))
    if "fallbacks" in fields:
        fallbacks = list(dict.fromkeys(fields.pop("fallbacks") or []))
        if alias.model_alias in fallbacks:
            raise InvalidInput("A model alias cannot be its own fallback")
        _aliases_resolve(aliases=fallbacks, what="Fallback alias")
        alias.fallbacks = fallbacks
    if "credential" in fields:
        credential = fields.pop("credential")
        alias.credential = (
            provider_credential_get(credential=credential) if credential else None
        )
    for name, value in fields.items():
        setattr(alias, name, value)
    return groups


def model_alias_create(*, actor: str, model_alias: str, **fields: Any) -> ModelAlias:
    """Create an alias. Unknown access group, fallback or credential → NotFound;
    a taken alias → Conflict."""
    alias = ModelAlias(model_alias=model_alias)
    groups = _alias_apply(alias, dict(fields))
    try:
        with transaction.atomic():
            alias.save()
            if groups:
                alias.access_groups.set(groups)
            audit_log_write(
                actor=actor,
                action="model_alias.create",
                obj=alias,
                object_id=model_alias,
                after=_alias_state(alias),
            )
    except IntegrityError:
        raise Conflict(f"Model alias '{model_alias}' already exists") from None
    return alias


def model_alias_update(*, alias: ModelAlias, actor: str, **fields: Any) -> ModelAlias:
    """Change the fields given; the others keep their values."""
    with transaction.atomic():
        alias = ModelAlias.objects.select_for_update().get(pk=alias.pk)
        before = _alias_state(alias)
        groups = _alias_apply(alias, dict(fields))
        alias.save()
        if groups is not None:
            alias.access_groups.set(groups)
        audit_log_write(
            actor=actor,
            action="model_alias.update",
            obj=alias,
            object_id=alias.model_alias,
            before=before,
            after=_alias_state(alias),
        )
    return alias


def model_alias_delete(*, alias: ModelAlias, actor: str) -> None:
    """Delete an alias unless another alias names it as a fallback (Conflict)."""
    with transaction.atomic():
        users = sorted(
            other.model_alias
            for other in ModelAlias.objects.exclude(pk=alias.pk).only(
                "model_alias", "fallbacks"
            )
            if alias.model_alias in (other.fallbacks or [])
        )
        if users:
            raise Conflict(
                f"Model alias '{alias.model_alias}' is a fallback of: "
                f"{', '.join(users)}"
            )
        audit_log_write(
            actor=actor,
            action="model_alias.delete",
            obj=alias,
            object_id=alias.model_alias,
            before=_alias_state(alias),
        )
        alias.delete()


def model_access_group_create(
    *,
    actor: str,
    group_name: str,
    display_name: str = "",
    description: str = "",
    model_aliases: list[str] | None = None,
) -> ModelAccessGroup:
    """Create an access group holding the aliases named (unknown alias → NotFound)."""
    aliases = _aliases_resolve(aliases=model_aliases or [])
    try:
        with transaction.atomic():
            group = ModelAccessGroup.objects.create(
                group_name=group_name,
                display_name=display_name,
                description=description,
            )
            group.model_aliases.set(aliases)
            audit_log_write(
                actor=actor,
                action="access_group.create",
                obj=group,
                object_id=group_name,
                after={"model_aliases": [a.model_alias for a in aliases]},
            )
    except IntegrityError:
        raise Conflict(f"Access group '{group_name}' already exists") from None
    return group


def model_access_group_update(
    *, group: ModelAccessGroup, actor: str, **fields: Any
) -> ModelAccessGroup:
    """Change display_name, description, is_active and (if given) model_aliases."""
    aliases = None
    if "model_aliases" in fields:
        aliases = _aliases_resolve(aliases=fields.pop("model_aliases") or [])
    with transaction.atomic():
        before = {
            **{name: getattr(group, name) for name in fields},
            "model_aliases": sorted(
                group.model_aliases.values_list("model_alias", flat=True)
            ),
        }
        for name, value in fields.items():
            setattr(group, name, value)
        group.save()
        if aliases is not None:
            group.model_aliases.set(aliases)
        audit_log_write(
            actor=actor,
            action="access_group.update",
            obj=group,
            object_id=group.group_name,
            before=before,
            after={
                **fields,
                "model_aliases": sorted(
                    group.model_aliases.values_list("model_alias", flat=True)
                ),
            },
        )
    return group


def model_access_group_delete(*, group: ModelAccessGroup, actor: str) -> None:
    """Delete an access group; refused (Conflict) while any team uses it."""
    with transaction.atomic():
        group = ModelAccessGroup.objects.select_for_update().get(pk=group.pk)
        team_ids = list(group.teams.values_list("team_id", flat=True)[:10])
        if team_ids:
            raise Conflict(
                f"Access group '{group.group_name}' is used by team(s): "
                f"{', '.join(team_ids)}"
            )
        audit_log_write(
            actor=actor,
            action="access_group.delete",
            obj=group,
            object_id=group.group_name,
        )
        group.delete()


def provider_credential_create(
    *,
    actor: str,
    provider: str,
    credential_name: str,
    api_key: str,
    organization: Organization | None = None,
    api_base: str = "",
) -> ProviderCredential:
    """Store a provider key encrypted; a taken credential_name → Conflict."""
    try:
        with transaction.atomic():
            credential = ProviderCredential.objects.create(
                organization=organization,
                provider=provider,
                credential_name=credential_name,
                encrypted_api_key=credential_encrypt(api_key),
                api_base=api_base,
            )
            audit_log_write(
                actor=actor,
                action="provider_credential.create",
                obj=credential,
                object_id=str(credential.credential_id),
                after=_credential_state(credential),
            )
    except IntegrityError:
        raise Conflict(
            f"Provider credential '{credential_name}' already exists"
        ) from None
    return credential


def provider_credential_update(
    *,
    credential: ProviderCredential,
    actor: str,
    api_key: str | None = None,
    **fields: Any,
) -> ProviderCredential:
    """Change the fields given. An empty or absent api_key keeps the stored secret."""
    try:
        with transaction.atomic():
            before = _credential_state(credential)
            for name, value in fields.items():
                setattr(credential, name, value)
            if api_key:
                credential.encrypted_api_key = credential_encrypt(api_key)
            credential.save()
            audit_log_write(
                actor=actor,
                action="provider_credential.update",
                obj=credential,
                object_id=str(credential.credential_id),
                before=before,
                after={
                    **_credential_state(credential),
                    "api_key_changed": bool(api_key),
                },
            )
    except IntegrityError:
        raise Conflict(
            f"Provider credential '{credential.credential_name}' already exists"
        ) from None
    return credential


def provider_credential_delete(*, credential: ProviderCredential, actor: str) -> None:
    """Delete a credential; refused (Conflict) while a model alias names it."""
    aliases = list(credential.model_aliases.values_list("model_alias", flat=True)[:10])
    if aliases:
        raise Conflict(
            f"Provider credential '{credential.credential_name}' is used by model "
            f"alias(es): {', '.join(aliases)}"
        )
    with transaction.atomic():
        audit_log_write(
            actor=actor,
            action="provider_credential.delete",
            obj=credential,
            object_id=str(credential.credential_id),
            before=_credential_state(credential),
        )
        try:
            credential.delete()
        except ProtectedError:
            raise Conflict(
                f"Provider credential '{credential.credential_name}' is in use"
            ) from None


def _credential_state(credential: ProviderCredential) -> dict[str, Any]:
    return {
        "credential_name": credential.credential_name,
        "provider": credential.provider,
        "organization_id": (
            credential.organization.organization_id if credential.organization else None
        ),
        "api_base": credential.api_base,
        "is_active": credential.is_active,
    }
