"""The hand-written key lookup builds the objects the ORM would have built."""

from __future__ import annotations

from django.db import connection
from django.forms.models import model_to_dict

from teams.key_lookup import virtual_key_with_team
from teams.keys import virtual_key_digest
from teams.models import VirtualKey


def _fields(instance) -> dict:
    return {
        field.attname: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
    }


def test_the_lookup_matches_the_orm_field_for_field(issued_team_key, team):
    team.metadata = {"plan": "gold", "nested": {"n": 1}}
    team.save()
    key = virtual_key_with_team(virtual_key_digest(issued_team_key.plaintext))
    expected = VirtualKey.objects.select_related("team__organization").get(
        pk=issued_team_key.key.pk
    )
    assert _fields(key) == _fields(expected)
    assert _fields(key.team) == _fields(expected.team)
    assert _fields(key.team.organization) == _fields(expected.team.organization)
    assert key.team.metadata == {"plan": "gold", "nested": {"n": 1}}
    assert model_to_dict(key.team)["team_id"] == "acme-corp"
    if connection.vendor == "postgresql":
        assert isinstance(key.catalogue_version, int)
    else:
        assert key.catalogue_version is None


def test_an_unknown_digest_finds_nothing(db):
    assert virtual_key_with_team(virtual_key_digest("sk-" + "0" * 32)) is None
