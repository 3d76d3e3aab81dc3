"""Writes of the teams app. Every function owns its transaction and writes an audit
entry; none ever logs or stores a plaintext key.

- audit: the audit log of admin actions
- tenancy: organizations, teams, their status and access groups
- keys: virtual keys (issue, rotate, revoke)
- catalogue: model aliases, access groups and provider credentials
"""

from teams.services.audit import audit_log_write
from teams.services.catalogue import (
    DEPLOYMENT_FIELDS,
    MAX_DEPLOYMENTS,
    alias_deployments,
    catalogue_lock,
    model_access_group_create,
    model_access_group_delete,
    model_access_group_update,
    model_alias_create,
    model_alias_delete,
    model_alias_update,
    provider_credential_create,
    provider_credential_delete,
    provider_credential_get,
    provider_credential_update,
)
from teams.services.keys import (
    DEFAULT_ROTATION_GRACE,
    IssuedKey,
    RotatedKey,
    virtual_key_create,
    virtual_key_get,
    virtual_key_issue,
    virtual_key_revoke,
    virtual_key_rotate,
)
from teams.services.tenancy import (
    access_groups_resolve,
    organization_create,
    organization_delete,
    organization_update,
    team_access_groups_set,
    team_allowed_models,
    team_create,
    team_status_set,
)

__all__ = [
    "DEFAULT_ROTATION_GRACE",
    "DEPLOYMENT_FIELDS",
    "MAX_DEPLOYMENTS",
    "IssuedKey",
    "RotatedKey",
    "access_groups_resolve",
    "alias_deployments",
    "audit_log_write",
    "catalogue_lock",
    "model_access_group_create",
    "model_access_group_delete",
    "model_access_group_update",
    "model_alias_create",
    "model_alias_delete",
    "model_alias_update",
    "organization_create",
    "organization_delete",
    "organization_update",
    "provider_credential_create",
    "provider_credential_delete",
    "provider_credential_get",
    "provider_credential_update",
    "team_access_groups_set",
    "team_allowed_models",
    "team_create",
    "team_status_set",
    "virtual_key_create",
    "virtual_key_get",
    "virtual_key_issue",
    "virtual_key_revoke",
    "virtual_key_rotate",
]
