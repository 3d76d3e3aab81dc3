"""The model catalogue: model aliases, access groups and provider credentials."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from saas_litellm.exceptions import Conflict, InvalidInput, NotFound
from teams.keys import credential_encrypt
from teams.models import (
    Deployment,
    DeploymentFields,
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
)
from teams.services.audit import audit_log_write
from teams.services.tenancy import access_groups_resolve


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


# What describes one deployment (teams.models.DeploymentFields); an alias's own are
# its first deployment's.
DEPLOYMENT_FIELDS = (
    "actual_model",
    "credential",
    "api_base",
    "weight",
    "rpm",
    "tpm",
    "pricing_input",
    "pricing_output",
)
MAX_DEPLOYMENTS = 20


def alias_deployments(alias: ModelAlias) -> list[DeploymentFields]:
    """The alias's deployments in order: its own fields (position 0), then its
    further ones."""
    return [alias, *alias.deployments.select_related("credential")]


def _deployment_state(deployment: DeploymentFields) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "actual_model": deployment.actual_model,
        "credential": (
            deployment.credential.credential_name if deployment.credential else None
        ),
        "api_base": deployment.api_base,
        "weight": deployment.weight,
        "rpm": deployment.rpm,
        "tpm": deployment.tpm,
        "pricing_input": text(deployment.pricing_input),
        "pricing_output": text(deployment.pricing_output),
    }


def _alias_state(alias: ModelAlias) -> dict[str, Any]:
    return {
        "provider": alias.provider,
        "access_groups": sorted(g.group_name for g in alias.access_groups.all()),
        "fallbacks": alias.fallbacks,
        "routing_strategy": alias.routing_strategy,
        "context_window_fallback": alias.context_window_fallback,
        "deployments": [_deployment_state(d) for d in alias_deployments(alias)],
        "is_active": alias.is_active,
    }


def _deployment_apply(deployment: DeploymentFields, fields: dict[str, Any]) -> None:
    fields = dict(fields)
    if "credential" in fields:
        credential = fields.pop("credential")
        deployment.credential = (
            provider_credential_get(credential=credential) if credential else None
        )
    for name, value in fields.items():
        setattr(deployment, name, value)


def _further_deployments(
    alias: ModelAlias, deployments: list[dict[str, Any]]
) -> list[Deployment]:
    """The rows of an alias's deployments after its first (not saved)."""
    rows = []
    for position, fields in enumerate(deployments[1:], start=1):
        row = Deployment(alias=alias, position=position)
        _deployment_apply(row, fields)
        rows.append(row)
    return rows


def _alias_apply(
    alias: ModelAlias, fields: dict[str, Any]
) -> tuple[list[ModelAccessGroup] | None, list[Deployment] | None]:
    """Copy validated fields onto an alias; return the access groups to set and
    the further deployments to put in place of the old ones (None: unchanged)."""
    groups = rows = None
    if "access_groups" in fields:
        groups = access_groups_resolve(group_names=fields.pop("access_groups"))
    if "fallbacks" in fields:
        fallbacks = list(dict.fromkeys(fields.pop("fallbacks") or []))
        if alias.model_alias in fallbacks:
            raise InvalidInput("A model alias cannot be its own fallback")
        _aliases_resolve(aliases=fallbacks, what="Fallback alias")
        alias.fallbacks = fallbacks
    if "context_window_fallback" in fields:
        name = fields.pop("context_window_fallback") or ""
        if name == alias.model_alias:
            raise InvalidInput(
                "A model alias cannot be its own context-window fallback"
            )
        if name:
            _aliases_resolve(aliases=[name], what="Context-window fallback alias")
        alias.context_window_fallback = name
    if "deployments" in fields:
        deployments = fields.pop("deployments")
        if not 1 <= len(deployments) <= MAX_DEPLOYMENTS:
            raise InvalidInput(f"Give 1 to {MAX_DEPLOYMENTS} deployments")
        first = {"credential": None, "api_base": "", "weight": 1, "rpm": None}
        first |= {"tpm": None, "pricing_input": None, "pricing_output": None}
        _deployment_apply(alias, first | deployments[0])
        rows = _further_deployments(alias, deployments)
    _deployment_apply(
        alias, {k: v for k, v in fields.items() if k in DEPLOYMENT_FIELDS}
    )
    for name, value in fields.items():
        if name not in DEPLOYMENT_FIELDS:
            setattr(alias, name, value)
    return groups, rows


def _alias_save(
    alias: ModelAlias,
    groups: list[ModelAccessGroup] | None,
    rows: list[Deployment] | None,
) -> None:
    alias.save()
    if groups is not None:
        alias.access_groups.set(groups)
    if rows is not None:
        alias.deployments.all().delete()
        for row in rows:
            row.alias = alias
        Deployment.objects.bulk_create(rows)


def model_alias_create(*, actor: str, model_alias: str, **fields: Any) -> ModelAlias:
    """Create an alias. Unknown access group, fallback or credential → NotFound;
    a taken alias → Conflict."""
    alias = ModelAlias(model_alias=model_alias)
    try:
        with transaction.atomic():
            # The fallbacks are checked under the lock, so that an alias deleted
            # meanwhile (model_alias_delete) cannot end up named as one.
            catalogue_lock()
            groups, rows = _alias_apply(alias, dict(fields))
            _alias_save(alias, groups, rows)
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


def catalogue_lock() -> None:
    """Lock the catalogue version's row (PostgreSQL), as every catalogue write does
    first (see teams/migrations/0003_catalogue_version.py). A transaction that locks
    catalogue or team rows before it writes the catalogue calls this first, so that
    it never holds such a row while it waits for the version."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT version FROM teams_catalogueversion WHERE id = 1 FOR UPDATE"
            )


def model_alias_update(*, alias: ModelAlias, actor: str, **fields: Any) -> ModelAlias:
    """Change the fields given; the others keep their values."""
    with transaction.atomic():
        catalogue_lock()
        alias = ModelAlias.objects.select_for_update().get(pk=alias.pk)
        before = _alias_state(alias)
        groups, rows = _alias_apply(alias, dict(fields))
        _alias_save(alias, groups, rows)
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
    """Delete an alias; refused (Conflict, code model_alias_in_use) while another
    alias names it as a fallback."""
    with transaction.atomic():
        catalogue_lock()
        alias = ModelAlias.objects.select_for_update().get(pk=alias.pk)
        # `fallbacks` is JSON, not a foreign key: scanned here, because SQLite has
        # no JSON containment lookup. The catalogue is small.
        users = sorted(
            other.model_alias
            for other in ModelAlias.objects.exclude(pk=alias.pk).only(
                "model_alias", "fallbacks", "context_window_fallback"
            )
            if alias.model_alias in (other.fallbacks or [])
            or alias.model_alias == other.context_window_fallback
        )
        if users:
            raise Conflict(
                f"Model alias '{alias.model_alias}' is a fallback of: "
                f"{', '.join(users)}",
                code="model_alias_in_use",
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
    is_active: bool = True,
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
                is_active=is_active,
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
        catalogue_lock()
        # The stored row, not the caller's copy (an admin form has already set the
        # new values on it), so that the audit log's "before" is what was stored.
        group = ModelAccessGroup.objects.select_for_update().get(pk=group.pk)
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
        catalogue_lock()
        group = ModelAccessGroup.objects.select_for_update().get(pk=group.pk)
        team_ids = list(group.teams.values_list("team_id", flat=True)[:10])
        if team_ids:
            raise Conflict(
                f"Access group '{group.group_name}' is used by team(s): "
                f"{', '.join(team_ids)}",
                code="access_group_in_use",
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
    is_active: bool = True,
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
                is_active=is_active,
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
            catalogue_lock()
            # The stored row, not the caller's copy (see model_access_group_update).
            credential = ProviderCredential.objects.select_for_update().get(
                pk=credential.pk
            )
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
    """Delete a credential; refused (Conflict, code credential_in_use) while a
    deployment of a model alias names it."""
    with transaction.atomic():
        catalogue_lock()
        # Locked, so that no alias can start naming it before the delete commits.
        credential = ProviderCredential.objects.select_for_update().get(
            pk=credential.pk
        )
        aliases = list(
            ModelAlias.objects.filter(
                Q(credential=credential) | Q(deployments__credential=credential)
            )
            .distinct()
            .order_by("model_alias")
            .values_list("model_alias", flat=True)[:10]
        )
        if aliases:
            raise Conflict(
                f"Provider credential '{credential.credential_name}' is used by "
                f"model alias(es): {', '.join(aliases)}",
                code="credential_in_use",
            )
        audit_log_write(
            actor=actor,
            action="provider_credential.delete",
            obj=credential,
            object_id=str(credential.credential_id),
            before=_credential_state(credential),
        )
        credential.delete()


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
