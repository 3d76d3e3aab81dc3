"""DRF authentication for the two kinds of caller: teams (Bearer, or Anthropic's
`x-api-key`) and the operator.

Both follow DRF's contract: `authenticate` returns None when the request carries no
credentials of that kind, raises AuthenticationFailed when they are bad, and
`authenticate_header` makes failures 401s. Team authentication costs one query.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from saas_litellm.request_context import request_context_update
from teams.key_lookup import virtual_key_with_team
from teams.keys import admin_key_matches, virtual_key_digest, virtual_key_is_well_formed
from teams.models import Team, VirtualKey

TEAM_AUTH_FAILED = "Invalid or missing API key"
ADMIN_AUTH_FAILED = "Invalid or missing admin key"
# The machine code of each 401 (the README promises one on every error).
AUTH_FAILED_CODES = {
    TEAM_AUTH_FAILED: "invalid_api_key",
    ADMIN_AUTH_FAILED: "invalid_admin_key",
}
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authentication_failed(detail: str) -> AuthenticationFailed:
    """The 401 for TEAM_AUTH_FAILED or ADMIN_AUTH_FAILED, carrying its code."""
    return AuthenticationFailed(detail, code=AUTH_FAILED_CODES[detail])


@dataclass(frozen=True)
class TeamPrincipal:
    """request.user for a caller holding a team's virtual key."""

    key: VirtualKey

    is_authenticated = True
    is_operator = False

    @property
    def team(self) -> Team:
        return self.key.team

    def __str__(self) -> str:
        return f"team:{self.key.team.team_id}/key:{self.key.key_id}"


@dataclass(frozen=True)
class OperatorPrincipal:
    """request.user for the operator (admin key, or loopback on the dev server)."""

    via: str = "admin-key"

    is_authenticated = True
    is_operator = True
    team = None

    def __str__(self) -> str:
        return f"operator:{self.via}"


def _presented_key(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, else of `x-api-key: <key>` (how
    Anthropic's SDKs and Claude Code send it); None when neither header is there.
    With both, Authorization is the one read. A header that is not a bearer
    credential is refused, whatever else the request carries."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        api_key = request.META.get("HTTP_X_API_KEY")
        return None if api_key is None else api_key.strip()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise authentication_failed(TEAM_AUTH_FAILED)
    return token.strip()


class VirtualKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer sk-…` (or `x-api-key: sk-…`) → TeamPrincipal.

    Unknown, malformed, revoked and expired keys get the same answer, so the error tells
    an attacker nothing. Malformed headers are refused before any database work.
    """

    def authenticate(self, request: Request) -> tuple[TeamPrincipal, VirtualKey] | None:
        token = _presented_key(request)
        if token is None:
            return None
        if not virtual_key_is_well_formed(token):
            raise authentication_failed(TEAM_AUTH_FAILED)
        # The digest is keyed with a secret pepper, so the indexed lookup leaks no
        # timing information an attacker can steer towards a real key. The same
        # query reads the catalogue version, which lets jobs.routing reuse route plans.
        key = virtual_key_with_team(virtual_key_digest(token))
        now = timezone.now()
        if key is None or not key.is_usable(now):
            raise authentication_failed(TEAM_AUTH_FAILED)
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            # At most one write a minute per key keeps the hot path at one query.
            VirtualKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        key.team.catalogue_version = key.catalogue_version
        request_context_update(team_id=key.team.team_id, key_id=str(key.key_id))
        return TeamPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def _is_loopback(request: Request) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


class AdminKeyAuthentication(BaseAuthentication):
    """`X-Admin-Key: <MASTER_KEY>` → OperatorPrincipal, compared in constant time."""

    def authenticate(self, request: Request) -> tuple[OperatorPrincipal, None] | None:
        candidate = request.META.get("HTTP_X_ADMIN_KEY")
        if candidate is None:
            if (
                settings.ADMIN_LOOPBACK_TRUST
                and not {"HTTP_AUTHORIZATION", "HTTP_X_API_KEY"} & request.META.keys()
                and _is_loopback(request)
            ):
                return OperatorPrincipal(via="loopback"), None
            return None
        if not admin_key_matches(candidate.strip()):
            raise authentication_failed(ADMIN_AUTH_FAILED)
        return OperatorPrincipal(), None

    def authenticate_header(self, request: Request) -> str:
        return 'AdminKey realm="saas-litellm", header="X-Admin-Key"'
