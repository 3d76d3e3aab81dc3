"""The virtual key behind a digest, with its team, organization and the catalogue
version, in one query.

Every API request runs it, and the ORM compiled the same three-table query anew
each time: that cost more than PostgreSQL's work. Here the SQL is written once per
process, and rows become model instances through the same database converters the
ORM applies, so the objects are the ones the ORM would have built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django.db.models.expressions import Col

from teams.models import CatalogueVersion, Organization, Team, VirtualKey

Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _columns(
    vendor: str,
) -> list[tuple[type[Model], list[str], list[tuple[Col, list[Converter]]]]]:
    """Per model: its field names and, per column, the converters to apply."""
    plan = []
    for model in (VirtualKey, Team, Organization):
        fields: list[Field] = list(model._meta.concrete_fields)
        columns = []
        for field in fields:
            column = Col(model._meta.db_table, field)
            converters = connection.ops.get_db_converters(
                column
            ) + column.get_db_converters(connection)
            columns.append((column, converters))
        plan.append((model, [field.attname for field in fields], columns))
    return plan


@functools.cache
def _sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    selected = ", ".join(
        f"{quote(column.alias)}.{quote(column.target.column)}"
        for _, _, columns in _columns(vendor)
        for column, _ in columns
    )
    key, team, organization, version = (
        quote(model._meta.db_table)
        for model in (VirtualKey, Team, Organization, CatalogueVersion)
    )
    # Names come from the models' metadata; the digest is a parameter.
    return (
        f"SELECT {selected}, (SELECT {quote('version')} FROM {version} WHERE "  # noqa: S608
        f"{quote('id')} = 1) FROM {key} "
        f"JOIN {team} ON {team}.{quote('id')} = {key}.{quote('team_id')} "
        f"JOIN {organization} ON {organization}.{quote('id')} = "
        f"{team}.{quote('organization_id')} "
        f"WHERE {key}.{quote('digest')} = %s"
    )


def virtual_key_with_team(digest: str) -> VirtualKey | None:
    """The key with this digest, its `team` and the team's `organization` loaded,
    and `catalogue_version` set on it (None where there is none); else None."""
    vendor = connection.vendor
    with connection.cursor() as cursor:
        cursor.execute(_sql(vendor), [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    built: list[Model] = []
    position = 0
    for model, names, columns in _columns(vendor):
        values = []
        for column, converters in columns:
            value = row[position]
            position += 1
            for convert in converters:
                value = convert(value, column, connection)
            values.append(value)
        built.append(model.from_db(connection.alias, names, values))
    key, team, organization = built
    team.organization = organization
    key.team = team
    key.catalogue_version = row[position]
    return key
