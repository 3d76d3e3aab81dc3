"""The database holds no plaintext virtual key and no plaintext provider key."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from teams.models import Team

pytestmark = pytest.mark.django_db

PROVIDER_SECRET = "prov-secret-AbC123xyz-never-stored"


def tables_holding(needle: str) -> list[str]:
    """Every table with a column whose text form contains `needle`, over all models
    (auto-created many-to-many tables included): one query per table."""
    hits = []
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            columns = [
                f"CAST({connection.ops.quote_name(field.column)} AS TEXT) LIKE %s"
                for field in model._meta.local_concrete_fields
            ]
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(
                f"SELECT COUNT(*) FROM {table} WHERE {' OR '.join(columns)}",  # noqa: S608
                [f"%{needle}%"] * len(columns),
            )
            if cursor.fetchone()[0]:
                hits.append(model._meta.db_table)
    return hits


def test_keys_from_the_api_and_commands_are_not_stored(
    admin_client_api, team, team_key
):
    created = admin_client_api.post(
        "/api/teams/acme-corp/keys", {"name": "api"}, format="json"
    ).json()
    rotated = admin_client_api.post(
        f"/api/teams/acme-corp/keys/{created['key_id']}/rotate",
        {"grace_seconds": 60},
        format="json",
        headers={"Idempotency-Key": "scan"},
    ).json()
    out = StringIO()
    call_command(
        "create_key", "acme-corp", "--name", "cli", stdout=out, stderr=StringIO()
    )
    cli_key = out.getvalue().strip().splitlines()[-1]
    plaintexts = [team_key, created["virtual_key"], rotated["virtual_key"], cli_key]
    assert Team.objects.get(team_id="acme-corp").keys.count() == 4
    for plaintext in plaintexts:
        assert plaintext.startswith("sk-")
        assert tables_holding(plaintext) == []
        # The 32 hex characters alone are not stored either.
        assert tables_holding(plaintext[3:]) == []


def test_the_scan_finds_what_is_stored(admin_client_api, team):
    # The scan itself works: a value that is stored is found.
    assert tables_holding("acme-corp") != []


def test_provider_keys_are_not_stored_in_plaintext(admin_client_api, db):
    response = admin_client_api.post(
        "/api/provider-credentials/create",
        {"provider": "openai", "credential_name": "main", "api_key": PROVIDER_SECRET},
        format="json",
    )
    assert response.status_code == 201
    assert PROVIDER_SECRET not in response.content.decode()
    assert tables_holding(PROVIDER_SECRET) == []
