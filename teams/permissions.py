"""Base API views that fix who may call an endpoint, and the tenant check.

Pick one base class per view: `AdminAPIView` (operator only), `TeamAPIView` (a team key
only) or `TeamOrAdminAPIView` (either; a team key is limited to its own team). Missing
credentials answer 401 with the message of the kind of key the endpoint expects.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from saas_litellm.exceptions import NotFound, TeamMismatch
from teams.authentication import (
    ADMIN_AUTH_FAILED,
    TEAM_AUTH_FAILED,
    AdminKeyAuthentication,
    VirtualKeyAuthentication,
    authentication_failed,
)
from teams.models import SLUG_PATTERN, Team

SLUG_REGEX = re.compile(SLUG_PATTERN)


class IsOperator(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_operator)


class IsTeam(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and not request.user.is_operator)


class IsTeamOrOperator(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_authenticated)


class _BaseAPIView(APIView):
    missing_credentials_detail = TEAM_AUTH_FAILED

    def permission_denied(
        self, request: Request, message: str | None = None, code: str | None = None
    ) -> None:
        if request.user is None or not request.user.is_authenticated:
            raise authentication_failed(self.missing_credentials_detail)
        if request.user.is_operator:
            raise authentication_failed(TEAM_AUTH_FAILED)
        # A team key on an operator endpoint is not an admin key.
        raise authentication_failed(ADMIN_AUTH_FAILED)

    def team_for_request(self, team_id: str, **select: Any) -> Team:
        """The team named in the URL or body, if the caller may act for it.

        The operator may name any team (unknown or malformed → 404); a team key may
        only name its own team (any other → 403 with the contract's message).
        """
        user = self.request.user
        if not user.is_operator:
            # Any team but its own, well-formed or not, is another team's (no query).
            if user.team.team_id != team_id:
                raise TeamMismatch(team_id[:100])
            return user.team
        if not SLUG_REGEX.fullmatch(team_id):
            # Not an id we could have issued; answer before any query sees it.
            raise NotFound(f"Team '{team_id[:100]}' not found")
        team = (
            Team.objects.select_related("organization").filter(team_id=team_id).first()
        )
        if team is None:
            raise NotFound(f"Team '{team_id}' not found")
        return team


class AdminAPIView(_BaseAPIView):
    authentication_classes = [AdminKeyAuthentication]
    permission_classes = [IsOperator]
    missing_credentials_detail = ADMIN_AUTH_FAILED


class TeamAPIView(_BaseAPIView):
    authentication_classes = [VirtualKeyAuthentication]
    permission_classes = [IsTeam]


class TeamOrAdminAPIView(_BaseAPIView):
    # Bearer first, so failures carry `WWW-Authenticate: Bearer`.
    authentication_classes = [VirtualKeyAuthentication, AdminKeyAuthentication]
    permission_classes = [IsTeamOrOperator]
