"""Query validation and the two download formats of the usage exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from rest_framework import serializers

from saas_litellm.exceptions import InvalidInput
from usage.services import usage_export_group_by, usage_export_period_check

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
ROWS_PER_CHUNK = 500


class ExportPeriodQuerySerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day (UTC), YYYY-MM-DD.")
    end = serializers.DateField(help_text="Last day (UTC, included), YYYY-MM-DD.")
    format = serializers.ChoiceField(choices=list(FORMATS), default="csv")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            usage_export_period_check(start=attrs["start"], end=attrs["end"])
        except InvalidInput as exc:
            raise serializers.ValidationError({"end": [exc.detail]}) from None
        return attrs


class UsageExportQuerySerializer(ExportPeriodQuerySerializer):
    group_by = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Comma-separated: day, team, key, alias, user (default: all, "
        "in that order). Rows are summed per these columns and ordered by them.",
    )

    def validate_group_by(self, value: str) -> list[str]:
        try:
            return usage_export_group_by(value)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.detail) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        attrs.setdefault("group_by", usage_export_group_by(None))
        return attrs


class _Line:
    """A file-like object for csv.writer that hands back what it is given."""

    def write(self, text: str) -> str:
        return text


def _chunked(lines: Iterable[str], *, first: int) -> Iterator[str]:
    """Lines joined a few hundred at a time: fewer, larger writes to the socket. The
    first chunk goes as soon as it has `first` lines (the header, if any, and the
    first row), so the client has data once the first query answers rather than
    after the queries of a few hundred rows."""
    chunk: list[str] = []
    size = first
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield "".join(chunk)
            chunk, size = [], ROWS_PER_CHUNK
    if chunk:
        yield "".join(chunk)


def _csv_lines(columns: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Line(), lineterminator="\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([row[column] for column in columns])


def _jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, separators=(",", ":")) + "\n"


def export_encoded(
    export_format: str, columns: list[str], rows: Iterable[dict[str, Any]]
) -> Iterator[str]:
    """The rows as CSV (a header line first) or JSON lines, in chunks."""
    if export_format == "csv":
        return _chunked(_csv_lines(columns, rows), first=2)
    return _chunked(_jsonl_lines(rows), first=1)
