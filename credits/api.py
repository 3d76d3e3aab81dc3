"""Credits API: balances, transactions, top-ups and budget modes.

The team endpoints (create, list, detail, update) live here too, not in `teams`: their
responses report balances and the initial allocation is a ledger entry, and `teams` may
not import `credits` (imports run jobs → credits → teams).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from credits.idempotency import HEADER, idempotent, request_ledger_key
from credits.models import EntryType
from credits.serializers import (
    BalanceQuerySerializer,
    BalanceSerializer,
    BudgetModeSerializer,
    BudgetSerializer,
    BudgetWriteSerializer,
    CreditAddSerializer,
    CreditWriteSerializer,
    KeySelfSerializer,
    ReplenishSerializer,
    TeamCreatedSerializer,
    TeamCreateSerializer,
    TeamDetailSerializer,
    TeamListQuerySerializer,
    TeamPageSerializer,
    TeamRatesSerializer,
    TeamSummarySerializer,
    TeamUpdateSerializer,
    TransactionListSerializer,
    TransactionSerializer,
    TransactionsQuerySerializer,
    validated,
)
from credits.services import (
    BudgetState,
    budget_get,
    budget_set,
    credit_account_get,
    credit_add,
    key_self,
    team_allowed_model_names,
    team_budget_mode_set,
    team_onboard,
    team_settings_update,
    teams_with_accounts,
)
from saas_litellm.exceptions import InvalidInput, NotFound
from teams.authentication import ADMIN_AUTH_FAILED, AdminKeyAuthentication
from teams.models import SLUG_PATTERN, Team
from teams.permissions import (
    AdminAPIView,
    IsOperator,
    TeamAPIView,
    TeamOrAdminAPIView,
)
from teams.services import virtual_key_get

SLUG = re.compile(SLUG_PATTERN)
IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER,
    # 1 to 200 printable ASCII characters (spaces inside only).
    {"type": "string", "maxLength": 200, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    OpenApiParameter.HEADER,
    required=False,
    description="A retry with the same key and body returns the first answer and "
    "changes nothing; another body is 422; a retry while the first runs is 409.",
)
UNKNOWN_REFERENCE = OpenApiResponse(
    description="The organization or an access group named does not exist."
)
UNKNOWN_TEAM = OpenApiResponse(description="No team has this team_id.")
DEFAULT_TRANSACTIONS_LIMIT = 50
DEFAULT_TEAMS_LIMIT = 50
KEY_SHOWN_ONCE = (
    "Replayed response: the virtual key was shown once, in the first response to "
    "this request, and is not stored."
)


class CreditsAPIMixin:
    """Path ids that cannot be a team are a 404 before any query (PostgreSQL would
    refuse a NUL byte with a 500)."""

    def team(self, team_id: str) -> Team:
        if not SLUG.fullmatch(team_id):
            raise NotFound(f"Team '{team_id[:100]}' not found")
        return self.team_for_request(team_id)  # type: ignore[attr-defined]


def _balance_body(team: Team) -> dict[str, Any]:
    account = credit_account_get(team=team)
    account.team = team
    return BalanceSerializer(account).data


# What only the operator reads of a team: its margin on provider costs.
OPERATOR_ONLY_TEAM_FIELDS = ("markup_percent",)


def _team_detail(team: Team, *, operator: bool = True) -> dict[str, Any]:
    detail = dict(TeamDetailSerializer(teams_with_accounts().get(pk=team.pk)).data)
    if not operator:
        for name in OPERATOR_ONLY_TEAM_FIELDS:
            detail.pop(name, None)
    return detail


# --- Teams ----------------------------------------------------------------------------


def _team_created_replay(body: dict[str, Any]) -> dict[str, Any]:
    """The stored copy of a team-create answer: never the plaintext key."""
    return {**body, "virtual_key": None, "detail": KEY_SHOWN_ONCE}


class TeamCreateView(CreditsAPIMixin, AdminAPIView):
    @extend_schema(
        request=TeamCreateSerializer,
        responses={
            201: TeamCreatedSerializer,
            404: UNKNOWN_REFERENCE,
            409: OpenApiResponse(
                description="The team id is taken, or a request with this "
                "Idempotency-Key is still being processed."
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent(redact=_team_created_replay)
    def post(self, request: Request) -> Response:
        data = validated(TeamCreateSerializer, request.data)
        onboarded = team_onboard(actor=str(request.user), **data)
        team, key = onboarded.team, onboarded.issued.key
        body = {
            "team_id": team.team_id,
            "organization_id": team.organization.organization_id,
            "team_alias": team.team_alias,
            "virtual_key": onboarded.issued.plaintext,
            "key_prefix": key.key_prefix,
            "key_id": str(key.key_id),
            "access_groups": sorted(set(data["access_groups"])),
            "allowed_models": team_allowed_model_names(team=team),
            "credits_allocated": onboarded.account.credits_allocated,
            "credits_remaining": onboarded.account.credits_remaining,
            "status": team.status,
            "budget_mode": team.budget_mode,
        }
        return Response(body, status=HTTPStatus.CREATED)


class TeamListView(CreditsAPIMixin, AdminAPIView):
    @extend_schema(
        operation_id="teams_list",
        parameters=[TeamListQuerySerializer],
        responses=TeamPageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = validated(TeamListQuerySerializer, request.query_params)
        limit = query.get("limit", DEFAULT_TEAMS_LIMIT)
        offset = query.get("offset", 0)
        teams = teams_with_accounts()
        page = TeamSummarySerializer(teams[offset : offset + limit], many=True).data
        return Response(
            {"total": teams.count(), "limit": limit, "offset": offset, "teams": page}
        )


class TeamDetailView(CreditsAPIMixin, TeamOrAdminAPIView):
    """GET: the operator or the team's own key. PUT: the operator only."""

    def get_authenticators(self) -> list[BaseAuthentication]:
        # Django's View.setup() has set self.request (the HttpRequest) by now; the
        # schema generator sets it too, so PUT is documented as admin-only.
        if getattr(self, "request", None) and self.request.method == "PUT":
            return [AdminKeyAuthentication()]
        return super().get_authenticators()

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "PUT":
            return [IsOperator()]
        return super().get_permissions()

    @property
    def missing_credentials_detail(self) -> str:  # type: ignore[override]
        return (
            ADMIN_AUTH_FAILED
            if self.request.method == "PUT"
            else super().missing_credentials_detail
        )

    @extend_schema(responses=TeamDetailSerializer)
    def get(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        return Response(_team_detail(team, operator=request.user.is_operator))

    @extend_schema(
        request=TeamUpdateSerializer,
        responses={200: TeamDetailSerializer, 404: UNKNOWN_REFERENCE},
    )
    def put(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = validated(TeamUpdateSerializer, request.data)
        team_settings_update(team=team, actor=str(request.user), **data)
        return Response(_team_detail(team))


# --- Credits --------------------------------------------------------------------------


class BalanceQueryView(CreditsAPIMixin, TeamOrAdminAPIView):
    @extend_schema(
        parameters=[BalanceQuerySerializer],
        responses={200: BalanceSerializer, 404: UNKNOWN_TEAM},
    )
    def get(self, request: Request) -> Response:
        if "team_id" not in request.query_params:
            raise InvalidInput("Query parameter 'team_id' is required")
        query = validated(BalanceQuerySerializer, request.query_params)
        return Response(_balance_body(self.team(query["team_id"])))


class TeamBalanceView(CreditsAPIMixin, TeamOrAdminAPIView):
    @extend_schema(responses=BalanceSerializer)
    def get(self, request: Request, team_id: str) -> Response:
        return Response(_balance_body(self.team(team_id)))


class TransactionsView(CreditsAPIMixin, TeamOrAdminAPIView):
    @extend_schema(
        parameters=[TransactionsQuerySerializer], responses=TransactionListSerializer
    )
    def get(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        query = validated(TransactionsQuerySerializer, request.query_params)
        limit = query.get("limit", DEFAULT_TRANSACTIONS_LIMIT)
        entries = credit_account_get(team=team).entries.order_by("-created_at", "-id")
        return Response(
            {
                "team_id": team.team_id,
                "transactions": TransactionSerializer(entries[:limit], many=True).data,
            }
        )


class CreditAddView(CreditsAPIMixin, AdminAPIView):
    @extend_schema(
        request=CreditAddSerializer,
        responses={201: CreditWriteSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent()
    def post(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = validated(CreditAddSerializer, request.data)
        entry = credit_add(
            team=team,
            credits=data["credits"],
            entry_type=EntryType.ALLOCATION,
            reason=data["reason"],
            actor=str(request.user),
            idempotency_key=request_ledger_key(request),
        )
        return Response(
            {
                "transaction": TransactionSerializer(entry).data,
                "balance": _balance_body(team),
            },
            status=HTTPStatus.CREATED,
        )


class ReplenishView(CreditsAPIMixin, AdminAPIView):
    @extend_schema(
        request=ReplenishSerializer,
        responses={201: CreditWriteSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent()
    def post(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = validated(ReplenishSerializer, request.data)
        entry = credit_add(
            team=team,
            credits=data["credits"],
            entry_type=EntryType.REPLENISHMENT,
            reason=data["reason"] or f"{data['payment_type']} replenishment",
            actor=str(request.user),
            payment_type=data["payment_type"],
            payment_amount_usd=data.get("payment_amount_usd"),
            idempotency_key=request_ledger_key(request),
        )
        return Response(
            {
                "transaction": TransactionSerializer(entry).data,
                "balance": _balance_body(team),
            },
            status=HTTPStatus.CREATED,
        )


class BudgetModeView(CreditsAPIMixin, AdminAPIView):
    @extend_schema(
        request=BudgetModeSerializer,
        responses=TeamRatesSerializer,
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent()
    def patch(self, request: Request, team_id: str) -> Response:
        team = self.team(team_id)
        data = validated(BudgetModeSerializer, request.data)
        team = team_budget_mode_set(team=team, actor=str(request.user), **data)
        return Response(TeamRatesSerializer(team).data)


# --- Budgets inside a team ------------------------------------------------------------


def _budget_body(state: BudgetState) -> dict[str, Any]:
    return dict(BudgetSerializer(state.as_dict()).data)


class KeyBudgetView(CreditsAPIMixin, TeamOrAdminAPIView):
    """A key's budget: the operator sets it; the operator or that key reads it."""

    def _key(self, team_id: str, key_id: str) -> tuple[Team, Any]:
        team = self.team(team_id)
        key = virtual_key_get(team=team, key_id=key_id)
        user = self.request.user
        if not user.is_operator and user.key.pk != key.pk:
            raise NotFound(f"Key '{key_id}' not found")  # another key's: not shown
        return team, key

    @extend_schema(responses=BudgetSerializer)
    def get(self, request: Request, team_id: str, key_id: str) -> Response:
        team, key = self._key(team_id, key_id)
        return Response(_budget_body(budget_get(team=team, key=key)))

    @extend_schema(request=BudgetWriteSerializer, responses=BudgetSerializer)
    def put(self, request: Request, team_id: str, key_id: str) -> Response:
        if not request.user.is_operator:
            self.permission_denied(request)
        team, key = self._key(team_id, key_id)
        data = validated(BudgetWriteSerializer, request.data)
        state = budget_set(team=team, key=key, actor=str(request.user), **data)
        return Response(_budget_body(state))


class EndUserBudgetView(CreditsAPIMixin, TeamOrAdminAPIView):
    """An end user's budget: the operator sets it; the operator or any key of the
    team reads it."""

    @extend_schema(responses=BudgetSerializer)
    def get(self, request: Request, team_id: str, user_id: str) -> Response:
        team = self.team(team_id)
        return Response(_budget_body(budget_get(team=team, user_id=user_id)))

    @extend_schema(request=BudgetWriteSerializer, responses=BudgetSerializer)
    def put(self, request: Request, team_id: str, user_id: str) -> Response:
        if not request.user.is_operator:
            self.permission_denied(request)
        team = self.team(team_id)
        data = validated(BudgetWriteSerializer, request.data)
        state = budget_set(team=team, user_id=user_id, actor=str(request.user), **data)
        return Response(_budget_body(state))


class KeySelfView(TeamAPIView):
    """The calling key: its name, expiry and budget (never the key itself)."""

    @extend_schema(responses=KeySelfSerializer)
    def get(self, request: Request) -> Response:
        return Response(KeySelfSerializer(key_self(key=request.user.key)).data)
