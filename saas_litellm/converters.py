"""Path converters: an id that cannot exist never reaches a view or a query.

`<slug_id:team_id>` matches the caller-chosen ids of API.md (organization_id,
team_id); any other segment matches no route, so the answer is the JSON 404 of
handler404, before any query (PostgreSQL would refuse a NUL byte with a 500).
Importing this module registers the converter; each urls.py that uses it imports it.
"""

from __future__ import annotations

from django.urls import register_converter

from teams.models import SLUG_PATTERN

SLUG_ID = "slug_id"


class SlugIdConverter:
    regex = SLUG_PATTERN.removeprefix("^").removesuffix("$")

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SlugIdConverter, SLUG_ID)
