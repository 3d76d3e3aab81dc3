"""Request and response shapes of the teams API. Never a plaintext key or secret.

Input serializers are strict: strings must be strings (DRF would turn 12 into "12"),
integers must be integers, and every string has a maximum length.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from saas_litellm.json_input import metadata_field
from teams.models import (
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
    Team,
    VirtualKey,
    slug_validator,
)
from teams.services import RotatedKey

MAX_GRACE_SECONDS = 365 * 24 * 3600
# Path segments the URLs use for actions: an object named so would be unreachable.
RESERVED_NAMES = frozenset({"create"})


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of converting them.

    Like every DRF CharField it refuses NUL characters, which PostgreSQL cannot
    store (DRF adds ProhibitNullCharactersValidator); JSON values are checked by
    saas_litellm.json_input instead."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer and nothing else: no "10", no 1.5, no 10.0, no true."""

    default_error_messages = {"invalid": "A whole number (JSON integer) is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def _not_reserved(value: str) -> None:
    if value.lower() in RESERVED_NAMES:
        raise serializers.ValidationError(f"'{value}' is a reserved name.")


def slug_field(**kwargs: Any) -> StrictCharField:
    validators = [slug_validator, _not_reserved]
    return StrictCharField(max_length=100, validators=validators, **kwargs)


def slug_list_field(*, max_items: int = 100, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=slug_field(), max_length=max_items, **kwargs)


class VirtualKeySerializer(serializers.ModelSerializer):
    """A key as lists show it: display form only."""

    class Meta:
        model = VirtualKey
        fields = [
            "key_id",
            "name",
            "key_prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields


class VirtualKeyStatusSerializer(VirtualKeySerializer):
    """Display form plus `status` (active, revoked, expired) and the key it replaced."""

    rotated_from = serializers.UUIDField(
        source="rotated_from.key_id", read_only=True, allow_null=True, default=None
    )

    class Meta(VirtualKeySerializer.Meta):
        fields = [*VirtualKeySerializer.Meta.fields, "status", "rotated_from"]
        read_only_fields = fields


# --- Organizations -----------------------------------------------------------------


class OrganizationCreateSerializer(serializers.Serializer):
    organization_id = slug_field()
    name = StrictCharField(max_length=200)
    metadata = metadata_field(required=False)


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["organization_id", "name", "metadata", "created_at", "updated_at"]
        read_only_fields = fields


class OrganizationTeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["team_id", "team_alias", "status", "created_at"]
        read_only_fields = fields


# --- Teams and keys ----------------------------------------------------------------


class TeamVerifySerializer(serializers.Serializer):
    """What a wrapper service learns from a key: built from the key alone (no query)."""

    team_id = serializers.CharField(source="team.team_id")
    organization_id = serializers.CharField(source="team.organization.organization_id")
    team_alias = serializers.CharField(source="team.team_alias")
    status = serializers.CharField(source="team.status")
    key_id = serializers.UUIDField()
    key_name = serializers.CharField(source="name")


class TeamAccessGroupsSerializer(serializers.Serializer):
    access_groups = slug_list_field(allow_empty=True)


class KeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False, default="default")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class KeyRotateSerializer(serializers.Serializer):
    grace_seconds = StrictIntegerField(
        min_value=0, max_value=MAX_GRACE_SECONDS, required=False, default=24 * 3600
    )


class IdempotencyKeyField(StrictCharField):
    def __init__(self) -> None:
        super().__init__(
            max_length=200,
            validators=[RegexValidator(r"^[\x21-\x7e]+$", "Use printable ASCII.")],
        )


class IdempotencyHeaderSerializer(serializers.Serializer):
    idempotency_key = IdempotencyKeyField()


def issued_key_data(key: VirtualKey, plaintext: str) -> dict[str, Any]:
    """The one response that carries a plaintext key."""
    data = dict(VirtualKeySerializer(key).data)
    return {
        "key_id": data["key_id"],
        "name": data["name"],
        "key_prefix": data["key_prefix"],
        "virtual_key": plaintext,
        "created_at": data["created_at"],
        "expires_at": data["expires_at"],
    }


ROTATION_REPLAYED = (
    "Already rotated with this Idempotency-Key; the new key was shown once"
)


def rotated_key_data(rotated: RotatedKey) -> dict[str, Any]:
    data = dict(VirtualKeySerializer(rotated.key).data)
    body: dict[str, Any] = {
        "key_id": data["key_id"],
        "name": data["name"],
        "key_prefix": data["key_prefix"],
        "created_at": data["created_at"],
        "expires_at": data["expires_at"],
        "rotated_from": str(rotated.old_key.key_id),
        "old_key_expires_at": VirtualKeySerializer(rotated.old_key).data["expires_at"],
        "old_key_revoked_at": VirtualKeySerializer(rotated.old_key).data["revoked_at"],
    }
    if rotated.plaintext is None:
        body["detail"] = ROTATION_REPLAYED
    else:
        body["virtual_key"] = rotated.plaintext
    return body


# --- Model catalogue ---------------------------------------------------------------

litellm_model_validator = RegexValidator(
    r"^[A-Za-z0-9][^\s]*$", "Give a litellm model string such as openai/gpt-4o-mini."
)


class ModelAliasWriteSerializer(serializers.Serializer):
    """Create (all required fields) or, with partial=True, update an alias."""

    model_alias = slug_field()
    display_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    provider = StrictCharField(max_length=50, validators=[slug_validator])
    actual_model = StrictCharField(max_length=200, validators=[litellm_model_validator])
    access_groups = slug_list_field(required=False, allow_empty=True)
    pricing_input = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True
    )
    pricing_output = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True
    )
    fallbacks = slug_list_field(max_items=20, required=False, allow_empty=True)
    credential = StrictCharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    api_base = serializers.URLField(max_length=500, required=False, allow_blank=True)
    max_output_tokens = StrictIntegerField(
        min_value=1, max_value=10_000_000, required=False, allow_null=True
    )
    mock_response = StrictCharField(
        max_length=100_000, required=False, allow_blank=True, trim_whitespace=False
    )
    is_active = serializers.BooleanField(required=False)


class ModelAliasUpdateSerializer(ModelAliasWriteSerializer):
    model_alias = None  # the URL names the alias; it cannot be renamed


class ModelAliasSerializer(serializers.ModelSerializer):
    """The operator's view of an alias: everything but secrets."""

    access_groups = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="group_name"
    )
    credential = serializers.CharField(
        source="credential.credential_name", read_only=True, default=None
    )
    credential_id = serializers.UUIDField(
        source="credential.credential_id", read_only=True, default=None
    )

    class Meta:
        model = ModelAlias
        fields = [
            "model_alias",
            "display_name",
            "description",
            "provider",
            "actual_model",
            "access_groups",
            "pricing_input",
            "pricing_output",
            "fallbacks",
            "credential",
            "credential_id",
            "api_base",
            "max_output_tokens",
            "mock_response",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TeamModelAliasSerializer(serializers.ModelSerializer):
    """What a team sees of an alias: no provider, real model or price."""

    name = serializers.CharField(source="model_alias", read_only=True)

    class Meta:
        model = ModelAlias
        fields = ["model_alias", "name", "display_name", "description"]
        read_only_fields = fields


class AccessGroupCreateSerializer(serializers.Serializer):
    group_name = slug_field()
    display_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    model_aliases = slug_list_field(max_items=1000, required=False, allow_empty=True)


class AccessGroupUpdateSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    model_aliases = slug_list_field(max_items=1000, required=False, allow_empty=True)


class AccessGroupModelsSerializer(serializers.Serializer):
    model_aliases = slug_list_field(max_items=1000, allow_empty=True)


class AccessGroupSerializer(serializers.ModelSerializer):
    model_aliases = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="model_alias"
    )

    class Meta:
        model = ModelAccessGroup
        fields = [
            "group_name",
            "display_name",
            "description",
            "is_active",
            "model_aliases",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProviderCredentialCreateSerializer(serializers.Serializer):
    organization_id = slug_field(required=False, allow_null=True)
    provider = StrictCharField(max_length=50, validators=[slug_validator])
    credential_name = slug_field()
    api_key = StrictCharField(max_length=4000, write_only=True)
    api_base = serializers.URLField(max_length=500, required=False, allow_blank=True)


class ProviderCredentialUpdateSerializer(serializers.Serializer):
    organization_id = slug_field(required=False, allow_null=True)
    provider = StrictCharField(
        max_length=50, validators=[slug_validator], required=False
    )
    credential_name = slug_field(required=False)
    api_key = StrictCharField(
        max_length=4000, write_only=True, required=False, allow_blank=True
    )
    api_base = serializers.URLField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class ProviderCredentialSerializer(serializers.ModelSerializer):
    """A credential without its secret: only whether one is stored."""

    organization_id = serializers.CharField(
        source="organization.organization_id", read_only=True, default=None
    )
    has_api_key = serializers.BooleanField(read_only=True)

    class Meta:
        model = ProviderCredential
        fields = [
            "credential_id",
            "organization_id",
            "provider",
            "credential_name",
            "api_base",
            "is_active",
            "has_api_key",
        ]
        read_only_fields = fields


# --- Response shapes documented in the OpenAPI schema --------------------------------


class TeamStatusResponseSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "suspended", "paused"])
    message = serializers.CharField()


class TeamAccessResponseSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    access_groups = serializers.ListField(child=serializers.CharField())
    allowed_models = serializers.ListField(child=serializers.CharField())


class IssuedKeyResponseSerializer(serializers.Serializer):
    key_id = serializers.UUIDField()
    name = serializers.CharField()
    key_prefix = serializers.CharField()
    virtual_key = serializers.CharField(help_text="The plaintext key, shown this once.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


class RotatedKeyResponseSerializer(serializers.Serializer):
    key_id = serializers.UUIDField()
    name = serializers.CharField()
    key_prefix = serializers.CharField()
    virtual_key = serializers.CharField(
        required=False, help_text="Plaintext of the new key; absent on a replay (200)."
    )
    detail = serializers.CharField(required=False, help_text="Set on a replay (200).")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    rotated_from = serializers.UUIDField()
    old_key_expires_at = serializers.DateTimeField(allow_null=True)
    old_key_revoked_at = serializers.DateTimeField(allow_null=True)
