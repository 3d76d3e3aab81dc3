"""Teams API: organizations, team status and keys, and the model catalogue.

Views are interfaces only: validate with a serializer, call one service, serialize.
Team create/list/get/update live in the credits app because they show balances.
"""

from __future__ import annotations

import math
import re
import uuid
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework.request import Request
from rest_framework.response import Response

from saas_litellm.exceptions import NotFound
from teams import serializers as s
from teams import services
from teams.models import (
    SLUG_PATTERN,
    ModelAccessGroup,
    ModelAlias,
    Organization,
    ProviderCredential,
    Team,
    TeamStatus,
)
from teams.permissions import AdminAPIView, TeamAPIView, TeamOrAdminAPIView


class VirtualKeyScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer sk-…` for every app's views (loaded with
    the URLconf, before the schema is generated)."""

    target_class = "teams.authentication.VirtualKeyAuthentication"
    name = "VirtualKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "Team virtual key"}


class AdminKeyScheme(OpenApiAuthenticationExtension):
    target_class = "teams.authentication.AdminKeyAuthentication"
    name = "AdminKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "X-Admin-Key"}


class DecimalFieldSchema(OpenApiSerializerFieldExtension):
    """DRF's DecimalField as it really reads and writes (every app's serializers).

    A response holds a string with exactly `decimal_places` decimals ("0.00000000",
    never "0E-8"). A request may send such a string (fewer decimals are fine) or a
    JSON integer, within the field's digits and bounds (minimum 0, or the smallest
    positive step: the only bounds our fields use)."""

    target_class = "rest_framework.fields.DecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict:
        field = self.target
        places = field.decimal_places
        whole = field.max_digits - places
        minimum = None if field.min_value is None else Decimal(field.min_value)
        sign = "-?" if minimum is None or minimum < 0 else ""
        if direction == "response":
            fraction = rf"\.\d{{{places}}}" if places else ""
            pattern = rf"^{sign}\d{{1,{whole}}}{fraction}$"
            return {"type": "string", "format": "decimal", "pattern": pattern}
        digits = rf"\d{{1,{whole}}}(\.\d{{0,{places}}})?|\.\d{{1,{places}}}"
        if minimum is not None and minimum > 0:
            # Not zero: a non-zero digit before the point, or one after it.
            after = "|".join(
                "0" * zeros + "[1-9]" + rf"\d{{0,{places - zeros - 1}}}"
                for zeros in range(places)
            )
            digits = rf"[1-9]\d{{0,{whole - 1}}}(\.\d{{0,{places}}})?|\.({after})"
        integer: dict[str, Any] = {"type": "integer", "maximum": 10**whole - 1}
        if minimum is not None:
            integer["minimum"] = math.ceil(minimum)
        else:
            integer["minimum"] = -(10**whole - 1)
        forms: list[dict[str, Any]] = [
            {"type": "string", "pattern": rf"^{sign}0*({digits})$"},
            integer,
        ]
        if field.allow_null:
            # DRF reads a blank string as null on a nullable DecimalField.
            forms.append({"type": "string", "pattern": r"^\s*$"})
        return {
            "format": "decimal",
            "description": f"A decimal string (at most {places} decimals) or an "
            "integer.",
            "anyOf": forms,
        }


SLUG = re.compile(SLUG_PATTERN)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    pattern=r"^[!-~]{1,200}$",  # printable ASCII, no spaces
    description="A retry with the same key returns the first rotation's new key "
    "(without plaintext) instead of rotating again.",
)
# Errors only some operations answer (jobs.schema adds the common ones and the body).
TAKEN = OpenApiResponse(description="The id or name is taken.")
IN_USE = OpenApiResponse(description="Still in use (code: *_in_use).")
UNKNOWN_REFERENCE = OpenApiResponse(
    description="An object the body names does not exist."
)


def _slug_or_404(value: str, what: str) -> None:
    """A path id that cannot exist is a 404 before any query (PostgreSQL would
    refuse a NUL byte with a 500)."""
    if not SLUG.fullmatch(value):
        raise NotFound(f"{what} not found")


class TeamAdminAPIView(AdminAPIView):
    """An operator endpoint under /api/teams/<team_id>/…."""

    def team(self, team_id: str) -> Team:
        _slug_or_404(team_id, "Team")
        return self.team_for_request(team_id)


def _valid(serializer_class: type, data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _actor(request: Request) -> str:
    return str(request.user)


def _get_or_404(queryset: QuerySet, what: str, name: str, **lookup: Any) -> Any:
    _slug_or_404(name, what)
    found = queryset.filter(**lookup).first()
    if found is None:
        raise NotFound(f"{what} '{name}' not found")
    return found


# --- Organizations -----------------------------------------------------------------


class OrganizationCreateView(AdminAPIView):
    @extend_schema(
        request=s.OrganizationCreateSerializer,
        responses={201: s.OrganizationSerializer, 409: TAKEN},
    )
    def post(self, request: Request) -> Response:
        data = _valid(s.OrganizationCreateSerializer, request.data)
        organization = services.organization_create(**data, actor=_actor(request))
        return Response(
            s.OrganizationSerializer(organization).data,
            status=HTTPStatus.CREATED,
        )


class OrganizationListView(AdminAPIView):
    @extend_schema(
        operation_id="organizations_list", responses=s.OrganizationSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        organizations = Organization.objects.order_by("organization_id")
        return Response(s.OrganizationSerializer(organizations, many=True).data)


def _organization(organization_id: str) -> Organization:
    return _get_or_404(
        Organization.objects,
        "Organization",
        organization_id,
        organization_id=organization_id,
    )


class OrganizationDetailView(AdminAPIView):
    @extend_schema(responses=s.OrganizationSerializer)
    def get(self, request: Request, organization_id: str) -> Response:
        organization = _organization(organization_id)
        return Response(s.OrganizationSerializer(organization).data)


class OrganizationTeamsView(AdminAPIView):
    @extend_schema(responses=s.OrganizationTeamSerializer(many=True))
    def get(self, request: Request, organization_id: str) -> Response:
        teams = _organization(organization_id).teams.order_by("team_id")
        return Response(s.OrganizationTeamSerializer(teams, many=True).data)


# --- Teams -------------------------------------------------------------------------


class TeamVerifyView(TeamAPIView):
    """Lets a wrapper service check a key: the authentication query is the only one."""

    @extend_schema(responses=s.TeamVerifySerializer)
    def get(self, request: Request) -> Response:
        return Response(s.TeamVerifySerializer(request.user.key).data)


class TeamStatusView(TeamAdminAPIView):
    new_status: str = ""
    message = ""

    @extend_schema(request=None, responses=s.TeamStatusResponseSerializer)
    def put(self, request: Request, team_id: str) -> Response:
        team = services.team_status_set(
            team=self.team(team_id),
            status=self.new_status,
            actor=_actor(request),
        )
        return Response(
            {
                "team_id": team.team_id,
                "status": team.status,
                "message": self.message.format(team_id=team.team_id),
            }
        )


class TeamSuspendView(TeamStatusView):
    new_status = TeamStatus.SUSPENDED
    message = "Team '{team_id}' suspended: it can read its data but not start work"


class TeamPauseView(TeamStatusView):
    new_status = TeamStatus.PAUSED
    message = "Team '{team_id}' paused: it can read its data but not start work"


class TeamResumeView(TeamStatusView):
    new_status = TeamStatus.ACTIVE
    message = "Team '{team_id}' resumed"


class TeamAccessGroupsView(TeamAdminAPIView):
    @extend_schema(
        request=s.TeamAccessGroupsSerializer, responses=s.TeamAccessResponseSerializer
    )
    def put(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = _valid(s.TeamAccessGroupsSerializer, request.data)
        team = services.team_access_groups_set(
            team=team, group_names=data["access_groups"], actor=_actor(request)
        )
        allowed = services.team_allowed_models(team=team)
        return Response(
            {
                "team_id": team.team_id,
                "access_groups": [g.group_name for g in team.access_groups.all()],
                "allowed_models": [alias.model_alias for alias in allowed],
            }
        )


# --- Keys --------------------------------------------------------------------------


class TeamKeysView(TeamAdminAPIView):
    @extend_schema(
        operation_id="teams_keys_list",
        responses=s.VirtualKeyStatusSerializer(many=True),
    )
    def get(self, request: Request, team_id: str) -> Response:
        keys = self.team(team_id).keys.select_related("rotated_from")
        return Response(s.VirtualKeyStatusSerializer(keys, many=True).data)

    @extend_schema(
        request=s.KeyCreateSerializer, responses={201: s.IssuedKeyResponseSerializer}
    )
    def post(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = _valid(s.KeyCreateSerializer, request.data)
        issued = services.virtual_key_create(team=team, actor=_actor(request), **data)
        return Response(
            s.issued_key_data(issued.key, issued.plaintext),
            status=HTTPStatus.CREATED,
            headers={"Cache-Control": "no-store"},
        )


class KeyRotateView(TeamAdminAPIView):
    @extend_schema(
        request=s.KeyRotateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: s.RotatedKeyResponseSerializer,
            200: s.RotatedKeyResponseSerializer,
            409: OpenApiResponse(
                description="The key is revoked, expired or already rotated, or a "
                "rotation with this Idempotency-Key is still running."
            ),
        },
    )
    def post(self, request: Request, team_id: str, key_id: str) -> Response:
        team = self.team(team_id)
        data = _valid(s.KeyRotateSerializer, request.data)
        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is not None:
            header = {"idempotency_key": idempotency_key}
            idempotency_key = _valid(s.IdempotencyHeaderSerializer, header)[
                "idempotency_key"
            ]
        rotated = services.virtual_key_rotate(
            team=team,
            key_id=key_id,
            grace_seconds=data["grace_seconds"],
            idempotency_key=idempotency_key,
            actor=_actor(request),
        )
        return Response(
            s.rotated_key_data(rotated),
            status=HTTPStatus.OK if rotated.replayed else HTTPStatus.CREATED,
            headers={"Cache-Control": "no-store"},
        )


class KeyRevokeView(TeamAdminAPIView):
    @extend_schema(request=None, responses=s.VirtualKeyStatusSerializer)
    def post(self, request: Request, team_id: str, key_id: str) -> Response:
        key = services.virtual_key_revoke(
            team=self.team(team_id), key_id=key_id, actor=_actor(request)
        )
        return Response(s.VirtualKeyStatusSerializer(key).data)


# --- Model aliases -----------------------------------------------------------------


def _alias(alias: str) -> ModelAlias:
    return _get_or_404(
        ModelAlias.objects.select_related("credential"),
        "Model alias",
        alias,
        model_alias=alias,
    )


class ModelAliasCreateView(AdminAPIView):
    @extend_schema(
        request=s.ModelAliasWriteSerializer,
        responses={
            201: s.ModelAliasSerializer,
            404: UNKNOWN_REFERENCE,
            409: TAKEN,
        },
    )
    def post(self, request: Request) -> Response:
        data = _valid(s.ModelAliasWriteSerializer, request.data)
        alias = services.model_alias_create(**data, actor=_actor(request))
        return Response(s.ModelAliasSerializer(alias).data, status=HTTPStatus.CREATED)


class ModelAliasListView(TeamOrAdminAPIView):
    """Operator: the whole catalogue. Team key: only the aliases it may use."""

    @extend_schema(
        operation_id="models_list",
        responses=PolymorphicProxySerializer(
            component_name="ModelListEntry",
            serializers=[s.ModelAliasSerializer, s.TeamModelAliasSerializer],
            resource_type_field_name=None,
            many=True,
        ),
        description="Operator: every alias (ModelAlias). Team key: only the aliases "
        "it may use (TeamModelAlias: model_alias, name, display_name, description).",
    )
    def get(self, request: Request) -> Response:
        if not request.user.is_operator:
            allowed = services.team_allowed_models(team=request.user.team)
            return Response(s.TeamModelAliasSerializer(allowed, many=True).data)
        aliases = ModelAlias.objects.select_related("credential").prefetch_related(
            "access_groups"
        )
        return Response(s.ModelAliasSerializer(aliases, many=True).data)


class ModelAliasDetailView(AdminAPIView):
    @extend_schema(responses=s.ModelAliasSerializer)
    def get(self, request: Request, alias: str) -> Response:
        return Response(s.ModelAliasSerializer(_alias(alias)).data)

    @extend_schema(
        request=s.ModelAliasUpdateSerializer, responses=s.ModelAliasSerializer
    )
    def put(self, request: Request, alias: str) -> Response:
        model_alias = _alias(alias)
        data = _valid(s.ModelAliasUpdateSerializer, request.data, partial=True)
        updated = services.model_alias_update(
            alias=model_alias, actor=_actor(request), **data
        )
        return Response(s.ModelAliasSerializer(updated).data)

    @extend_schema(responses={204: None, 409: IN_USE})
    def delete(self, request: Request, alias: str) -> Response:
        services.model_alias_delete(alias=_alias(alias), actor=_actor(request))
        return Response(status=HTTPStatus.NO_CONTENT)


# --- Access groups -----------------------------------------------------------------


def _group(group_name: str) -> ModelAccessGroup:
    return _get_or_404(
        ModelAccessGroup.objects, "Access group", group_name, group_name=group_name
    )


class AccessGroupCreateView(AdminAPIView):
    @extend_schema(
        request=s.AccessGroupCreateSerializer,
        responses={201: s.AccessGroupSerializer, 404: UNKNOWN_REFERENCE, 409: TAKEN},
    )
    def post(self, request: Request) -> Response:
        data = _valid(s.AccessGroupCreateSerializer, request.data)
        group = services.model_access_group_create(**data, actor=_actor(request))
        return Response(s.AccessGroupSerializer(group).data, status=HTTPStatus.CREATED)


class AccessGroupListView(AdminAPIView):
    @extend_schema(
        operation_id="model_access_groups_list",
        responses=s.AccessGroupSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        groups = ModelAccessGroup.objects.prefetch_related("model_aliases")
        return Response(s.AccessGroupSerializer(groups, many=True).data)


class AccessGroupDetailView(AdminAPIView):
    @extend_schema(responses=s.AccessGroupSerializer)
    def get(self, request: Request, group_name: str) -> Response:
        return Response(s.AccessGroupSerializer(_group(group_name)).data)

    @extend_schema(
        request=s.AccessGroupUpdateSerializer, responses=s.AccessGroupSerializer
    )
    def put(self, request: Request, group_name: str) -> Response:
        group = _group(group_name)
        data = _valid(s.AccessGroupUpdateSerializer, request.data)
        group = services.model_access_group_update(
            group=group, actor=_actor(request), **data
        )
        return Response(s.AccessGroupSerializer(group).data)

    @extend_schema(responses={204: None, 409: IN_USE})
    def delete(self, request: Request, group_name: str) -> Response:
        services.model_access_group_delete(
            group=_group(group_name), actor=_actor(request)
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class AccessGroupModelsView(AdminAPIView):
    @extend_schema(
        request=s.AccessGroupModelsSerializer, responses=s.AccessGroupSerializer
    )
    def put(self, request: Request, group_name: str) -> Response:
        group = _group(group_name)
        data = _valid(s.AccessGroupModelsSerializer, request.data)
        group = services.model_access_group_update(
            group=group, actor=_actor(request), model_aliases=data["model_aliases"]
        )
        return Response(s.AccessGroupSerializer(group).data)


# --- Provider credentials ----------------------------------------------------------


def _credential(credential_id: str) -> ProviderCredential:
    try:
        credential_uuid = uuid.UUID(credential_id)
    except ValueError:
        raise NotFound(f"Provider credential '{credential_id}' not found") from None
    return _get_or_404(
        ProviderCredential.objects.select_related("organization"),
        "Provider credential",
        credential_id,
        credential_id=credential_uuid,
    )


def _organization_field(data: dict[str, Any]) -> dict[str, Any]:
    """Turn an organization_id in validated data into an `organization` (404 if
    unknown, None for a global credential)."""
    if "organization_id" in data:
        organization_id = data.pop("organization_id")
        data["organization"] = (
            _organization(organization_id) if organization_id else None
        )
    return data


class ProviderCredentialCreateView(AdminAPIView):
    @extend_schema(
        request=s.ProviderCredentialCreateSerializer,
        responses={
            201: s.ProviderCredentialSerializer,
            404: UNKNOWN_REFERENCE,
            409: TAKEN,
        },
    )
    def post(self, request: Request) -> Response:
        data = _organization_field(
            _valid(s.ProviderCredentialCreateSerializer, request.data)
        )
        credential = services.provider_credential_create(**data, actor=_actor(request))
        return Response(
            s.ProviderCredentialSerializer(credential).data,
            status=HTTPStatus.CREATED,
        )


class ProviderCredentialListView(AdminAPIView):
    @extend_schema(
        operation_id="provider_credentials_list",
        responses=s.ProviderCredentialSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        credentials = ProviderCredential.objects.select_related("organization")
        return Response(s.ProviderCredentialSerializer(credentials, many=True).data)


class ProviderCredentialDetailView(AdminAPIView):
    @extend_schema(responses=s.ProviderCredentialSerializer)
    def get(self, request: Request, credential_id: str) -> Response:
        credential = _credential(credential_id)
        return Response(s.ProviderCredentialSerializer(credential).data)

    @extend_schema(
        request=s.ProviderCredentialUpdateSerializer,
        responses={200: s.ProviderCredentialSerializer, 409: TAKEN},
    )
    def put(self, request: Request, credential_id: str) -> Response:
        credential = _credential(credential_id)
        data = _organization_field(
            _valid(s.ProviderCredentialUpdateSerializer, request.data)
        )
        credential = services.provider_credential_update(
            credential=credential, actor=_actor(request), **data
        )
        return Response(s.ProviderCredentialSerializer(credential).data)

    @extend_schema(responses={204: None, 409: IN_USE})
    def delete(self, request: Request, credential_id: str) -> Response:
        services.provider_credential_delete(
            credential=_credential(credential_id), actor=_actor(request)
        )
        return Response(status=HTTPStatus.NO_CONTENT)


class ProviderCredentialActivateView(AdminAPIView):
    is_active = True

    @extend_schema(request=None, responses=s.ProviderCredentialSerializer)
    def post(self, request: Request, credential_id: str) -> Response:
        credential = services.provider_credential_update(
            credential=_credential(credential_id),
            actor=_actor(request),
            is_active=self.is_active,
        )
        return Response(s.ProviderCredentialSerializer(credential).data)


class ProviderCredentialDeactivateView(ProviderCredentialActivateView):
    is_active = False
