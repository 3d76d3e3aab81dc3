"""NUL characters never reach PostgreSQL from a string field, a query parameter or a
path: DRF's CharField refuses them (the strict fields inherit it), and path ids go
through the slug converter."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from credits.serializers import CreditAddSerializer, TeamCreateSerializer
from jobs.serializers import JobCreateSerializer
from teams.serializers import KeyCreateSerializer, OrganizationCreateSerializer

NUL = "a\x00b"


@pytest.mark.parametrize(
    ("serializer_class", "valid", "field"),
    [
        (JobCreateSerializer, {"team_id": "t", "job_type": "j"}, "job_type"),
        (JobCreateSerializer, {"team_id": "t", "job_type": "j"}, "user_id"),
        (OrganizationCreateSerializer, {"organization_id": "o", "name": "n"}, "name"),
        (KeyCreateSerializer, {}, "name"),
        (TeamCreateSerializer, {"organization_id": "o", "team_id": "t"}, "team_alias"),
        (CreditAddSerializer, {"credits": 1}, "reason"),
    ],
)
def test_a_stored_string_field_refuses_a_nul_character(serializer_class, valid, field):
    assert serializer_class(data=valid).is_valid()
    serializer = serializer_class(data={**valid, field: NUL})
    assert not serializer.is_valid()
    assert field in serializer.errors


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/credits/balance?team_id=a%00b",
        "/api/teams?limit=%00&offset=%00",
        "/api/credits/teams/acme-corp/transactions?limit=%00",
        "/api/teams/acme-corp/jobs?status=%00",
        "/api/teams/acme-corp/usage?period=%00",
        "/api/organizations/org_acme/usage?period=%00",
    ],
)
def test_a_nul_byte_in_a_query_parameter_is_not_a_500(admin_client_api, team, url):
    response = admin_client_api.get(url)
    assert HTTPStatus.BAD_REQUEST <= response.status_code < 500
    assert response.json()["detail"]
