"""Usage exports (DRF views): the operator's, over every team, and a team's own.

Both stream their rows as they are read (`StreamingHttpResponse`): through an async
iterator under ASGI, so that the server writes each chunk as it comes instead of
collecting the whole body first, and a plain one under WSGI. `format` is this
endpoint's own parameter (csv or jsonl), not DRF's format override, and `Accept`
does not choose the body: errors are JSON, exports what `format` says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from teams.models import Team
from teams.permissions import AdminAPIView, TeamOrAdminAPIView
from usage.serializers import (
    FORMATS,
    ExportPeriodQuerySerializer,
    UsageExportQuerySerializer,
    export_encoded,
)
from usage.services import GROUP_NAMES, UsageExport, calls_export, usage_export

GROUP_NAME = "|".join(GROUP_NAMES)
GROUP_BY = OpenApiParameter(
    "group_by",
    {"type": "string", "pattern": f"^(({GROUP_NAME})(,({GROUP_NAME}))*)?$"},
    OpenApiParameter.QUERY,
    description="Comma-separated columns to sum per, in order: day, team, key, "
    "alias, user. Empty or absent: all of them.",
)
EXPORT_RESPONSES = {
    (200, "text/csv"): OpenApiResponse(
        OpenApiTypes.STR, description="CSV, a header line first (format=csv)."
    ),
    (200, "application/x-ndjson"): OpenApiResponse(
        OpenApiTypes.STR, description="One JSON object a line (format=jsonl)."
    ),
}
EXPORT_DESCRIPTION = (
    "Usage rollups of the days start to end (UTC, both included, at most 366), "
    "summed per `group_by` and ordered by it, streamed as CSV or JSON lines. "
    "Columns: the group columns (day, team_id, key_id, model_alias, user_id), then "
    "calls, failed_calls, prompt_tokens, completion_tokens, total_tokens, "
    "cached_tokens, reasoning_tokens, credits{costs}. key_id is the key that opened "
    "the calls' jobs (empty for jobs the operator opened)."
)


class FormatParameterNegotiation(BaseContentNegotiation):
    """The view's first renderer (JSON, for errors), whatever `?format=` or Accept
    say: the export's format is its own parameter."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None


def _pulled(chunks: Iterator[str]) -> AsyncIterator[str]:
    """`chunks` read one at a time on the request's own thread, where its cursor is
    (thread-sensitive; not on the database threads, which any request may use)."""
    pull = sync_to_async(next, thread_sensitive=True)

    async def stream() -> AsyncIterator[str]:
        while (chunk := await pull(chunks, None)) is not None:
            yield chunk

    return stream()


def export_response(
    request: HttpRequest, export: UsageExport, file_format: str
) -> StreamingHttpResponse:
    """`export` streamed in `file_format` (csv or jsonl) as a download; the admin's
    downloads answer with it too."""
    content_type, extension = FORMATS[file_format]
    chunks = export_encoded(file_format, export.columns, export.rows)
    body = _pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{export.filename_stem}.{extension}"'
    )
    response["Cache-Control"] = "no-store"
    return response


def _query(request: Request, serializer_class: type = UsageExportQuerySerializer):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _usage(request: Request, team: Team | None) -> StreamingHttpResponse:
    query = _query(request)
    export = usage_export(
        start=query["start"],
        end=query["end"],
        group_by=query["group_by"],
        include_costs=request.user.is_operator,
        team=team,
    )
    return export_response(request._request, export, query["format"])


def _calls(request: Request, team: Team | None) -> StreamingHttpResponse:
    query = _query(request, ExportPeriodQuerySerializer)
    export = calls_export(
        start=query["start"],
        end=query["end"],
        include_costs=request.user.is_operator,
        team=team,
    )
    return export_response(request._request, export, query["format"])


class UsageExportView(AdminAPIView):
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(
        operation_id="usage_export",
        parameters=[UsageExportQuerySerializer, GROUP_BY],
        responses=EXPORT_RESPONSES,
        description=EXPORT_DESCRIPTION.format(
            costs=", provider_cost_usd, client_cost_usd"
        ),
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return _usage(request, team=None)


class TeamUsageExportView(TeamOrAdminAPIView):
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(
        operation_id="teams_usage_export",
        parameters=[UsageExportQuerySerializer, GROUP_BY],
        responses=EXPORT_RESPONSES,
        description=EXPORT_DESCRIPTION.format(
            costs=" (and, for the operator only, provider_cost_usd, client_cost_usd)"
        ),
    )
    def get(self, request: Request, team_id: str) -> StreamingHttpResponse:
        return _usage(request, team=self.team_for_request(team_id))


CALLS_EXPORT_DESCRIPTION = (
    "The request log of the days start to end (UTC, both included, at most 366): "
    "one row per LLM call, oldest first, streamed as CSV or JSON lines. Columns: "
    "created_at, call_id, job_id, team_id, key_id (the key that opened the job), "
    "user_id, model_alias, status, streamed, prompt_tokens, completion_tokens, "
    "total_tokens, cached_tokens, reasoning_tokens, usage_estimated, latency_ms, "
    "ttft_ms (a stream's time to first token; empty when not streamed), "
    "finish_reason{operator}."
)


class CallsExportView(AdminAPIView):
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(
        operation_id="calls_export",
        parameters=[ExportPeriodQuerySerializer],
        responses=EXPORT_RESPONSES,
        description=CALLS_EXPORT_DESCRIPTION.format(
            operator=", deployment, model_used, provider_cost_usd, client_cost_usd"
        ),
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        return _calls(request, team=None)


class TeamCallsExportView(TeamOrAdminAPIView):
    content_negotiation_class = FormatParameterNegotiation

    @extend_schema(
        operation_id="teams_calls_export",
        parameters=[ExportPeriodQuerySerializer],
        responses=EXPORT_RESPONSES,
        description=CALLS_EXPORT_DESCRIPTION.format(
            operator=" (and, for the operator only, deployment, model_used, "
            "provider_cost_usd, client_cost_usd)"
        ),
    )
    def get(self, request: Request, team_id: str) -> StreamingHttpResponse:
        return _calls(request, team=self.team_for_request(team_id))
