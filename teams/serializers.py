"""Request and response shapes of the teams API. Never a plaintext key or secret.

Input serializers are strict: strings must be strings (DRF would turn 12 into "12"),
integers must be integers, and every string has a maximum length.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from saas_litellm.json_input import metadata_field
from teams.models import (
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
    RoutingStrategy,
    Team,
    VirtualKey,
    slug_validator,
)
from teams.services import (
    DEPLOYMENT_FIELDS,
    MAX_DEPLOYMENTS,
    RotatedKey,
    alias_deployments,
)

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


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false: no 0, 1, "yes" or "true"."""

    default_error_messages = {"invalid": "Must be true or false (a JSON boolean)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


# The form of base URL the schema promises (Django's URLValidator, which the field
# applies, takes more): http(s), a host of up to 3 labels, an optional path segment.
# Kept simple on purpose: schemathesis builds counter-examples from this pattern.
URL_PATTERN = (
    r"^https?://[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,2}\.[a-z]{2,10}(/[a-z0-9]*)?$"
)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 500,
        "pattern": URL_PATTERN,
        "description": "An http(s) base URL such as https://api.example.com/v1, "
        "or empty for the provider's default.",
    }
)
class ApiBaseField(serializers.URLField):
    """A provider's base URL, or "" for the provider's default."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=500, allow_blank=True, **kwargs)


# PostgreSQL's OFFSET is a bigint: a larger offset was a 500.
MAX_OFFSET = 2**63 - 1


def offset_field(**kwargs: Any) -> serializers.IntegerField:
    """A list's `offset` query parameter."""
    return serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, **kwargs)


def _not_reserved(value: str) -> None:
    if value.lower() in RESERVED_NAMES:
        raise serializers.ValidationError(f"'{value}' is a reserved name.")


def slug_field(**kwargs: Any) -> StrictCharField:
    validators = [slug_validator, _not_reserved]
    return StrictCharField(max_length=100, validators=validators, **kwargs)


def slug_list_field(*, max_items: int = 100, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=slug_field(), max_length=max_items, **kwargs)


@extend_schema_field(
    {
        "type": "string",
        "description": "A URL, or empty for the provider's default.",
        "anyOf": [{"format": "uri"}, {"maxLength": 0}],
    }
)
class OptionalURLOutputField(serializers.CharField):
    """A stored URLField with blank=True, as responses show it: a URL or ""."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)


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
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="In the future (else 400)."
    )


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


class DeploymentWriteSerializer(serializers.Serializer):
    """One deployment of an alias."""

    actual_model = StrictCharField(max_length=200, validators=[litellm_model_validator])
    credential = StrictCharField(
        max_length=100, required=False, allow_null=True, allow_blank=True
    )
    api_base = ApiBaseField(required=False)
    weight = StrictIntegerField(min_value=1, max_value=1000, required=False)
    rpm = StrictIntegerField(
        min_value=1, max_value=100_000_000, required=False, allow_null=True
    )
    tpm = StrictIntegerField(
        min_value=1, max_value=2_000_000_000, required=False, allow_null=True
    )
    pricing_input = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True
    )
    pricing_output = serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=0, required=False, allow_null=True
    )


class ModelAliasWriteSerializer(DeploymentWriteSerializer):
    """Create (all required fields) or, with partial=True, update an alias. Its
    deployments are either `deployments` or the top-level deployment fields (its
    first deployment's, inherited), not both."""

    model_alias = slug_field()
    display_name = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    provider = StrictCharField(max_length=50, validators=[slug_validator])
    actual_model = StrictCharField(
        max_length=200, validators=[litellm_model_validator], required=False
    )
    access_groups = slug_list_field(required=False, allow_empty=True)
    fallbacks = slug_list_field(
        max_items=20,
        required=False,
        allow_empty=True,
        help_text="Other aliases, tried in order (naming the alias itself: 400).",
    )
    max_output_tokens = StrictIntegerField(
        min_value=1, max_value=10_000_000, required=False, allow_null=True
    )
    mock_response = StrictCharField(
        max_length=100_000, required=False, allow_blank=True, trim_whitespace=False
    )
    is_active = StrictBooleanField(required=False)
    deployments = DeploymentWriteSerializer(
        many=True,
        required=False,
        max_length=MAX_DEPLOYMENTS,
        min_length=1,
        help_text="The alias's deployments, the first in place of the top-level "
        "actual_model/credential/api_base/weight/rpm/tpm/pricing fields.",
    )
    routing_strategy = serializers.ChoiceField(
        choices=RoutingStrategy.values, required=False
    )
    context_window_fallback = slug_field(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Alias that takes prompts too long for every deployment.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # A create names a missing actual_model with the other missing fields.
        model_missing = (
            not self.partial
            and isinstance(data, dict)
            and not {"actual_model", "deployments"} & data.keys()
        )
        required = {"actual_model": ["This field is required (or give deployments)."]}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if model_missing and isinstance(exc.detail, dict):
                exc.detail.update(required)
            raise
        if model_missing:
            raise serializers.ValidationError(required)
        return attrs

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in DEPLOYMENT_FIELDS if name in attrs]
        if "deployments" in attrs and given:
            raise serializers.ValidationError(
                {"deployments": f"Give either deployments or {', '.join(given)}."}
            )
        return attrs


class ModelAliasUpdateSerializer(ModelAliasWriteSerializer):
    """Every field optional: an update changes the fields it names."""

    model_alias = None  # the URL names the alias; it cannot be renamed
    provider = StrictCharField(
        max_length=50, validators=[slug_validator], required=False
    )
    actual_model = StrictCharField(
        max_length=200, validators=[litellm_model_validator], required=False
    )


class DeploymentSerializer(serializers.Serializer):
    """A deployment as the operator sees it (no secret)."""

    position = serializers.IntegerField()
    actual_model = serializers.CharField()
    credential = serializers.CharField(
        source="credential.credential_name", default=None, allow_null=True
    )
    api_base = OptionalURLOutputField()
    weight = serializers.IntegerField()
    rpm = serializers.IntegerField(allow_null=True)
    tpm = serializers.IntegerField(allow_null=True)
    pricing_input = serializers.DecimalField(
        max_digits=12, decimal_places=6, allow_null=True
    )
    pricing_output = serializers.DecimalField(
        max_digits=12, decimal_places=6, allow_null=True
    )


class ModelAliasSerializer(serializers.ModelSerializer):
    """The operator's view of an alias: everything but secrets. The top-level
    deployment fields are its first deployment's."""

    access_groups = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="group_name"
    )
    credential = serializers.CharField(
        source="credential.credential_name",
        read_only=True,
        default=None,
        allow_null=True,
    )
    credential_id = serializers.UUIDField(
        source="credential.credential_id", read_only=True, default=None, allow_null=True
    )
    api_base = OptionalURLOutputField()
    deployments = serializers.SerializerMethodField()

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
            "routing_strategy",
            "context_window_fallback",
            "deployments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DeploymentSerializer(many=True))
    def get_deployments(self, alias: ModelAlias) -> list[dict[str, Any]]:
        return DeploymentSerializer(alias_deployments(alias), many=True).data


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
    is_active = StrictBooleanField(required=False)
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
    api_base = ApiBaseField(required=False)


class ProviderCredentialUpdateSerializer(serializers.Serializer):
    organization_id = slug_field(required=False, allow_null=True)
    provider = StrictCharField(
        max_length=50, validators=[slug_validator], required=False
    )
    credential_name = slug_field(required=False)
    api_key = StrictCharField(
        max_length=4000, write_only=True, required=False, allow_blank=True
    )
    api_base = ApiBaseField(required=False)
    is_active = StrictBooleanField(required=False)


class ProviderCredentialSerializer(serializers.ModelSerializer):
    """A credential without its secret: only whether one is stored."""

    organization_id = serializers.CharField(
        source="organization.organization_id",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Null for a global credential.",
    )
    api_base = OptionalURLOutputField()
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
