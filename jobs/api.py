"""Jobs API: jobs, their costs and usage (DRF views). The LLM call endpoints are
adapters over the call pipeline, in `jobs/native_api.py`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import selectors, services
from jobs import serializers as s
from jobs.models import JobStatus
from saas_litellm.exceptions import NotFound
from teams.models import Organization
from teams.permissions import AdminAPIView, TeamAPIView, TeamOrAdminAPIView


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> Any:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def _actor(request: Request) -> str:
    return str(request.user)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


STATUS_FILTER = OpenApiParameter(
    "status",
    {
        "type": "string",
        "pattern": f"^({'|'.join(_any_case(status) for status in JobStatus.values)})?$",
    },
    OpenApiParameter.QUERY,
    description="Only jobs with this status (any case); empty: every job.",
)
# Years 1 to 9999 (datetime's), months 01 to 12; a day makes it an ISO date.
YEAR_MONTH = r"^(\d{3}[1-9]|\d{2}[1-9]\d|\d[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])$"
PERIOD = OpenApiParameter(
    "period",
    {
        "type": "string",
        "anyOf": [{"maxLength": 0}, {"pattern": YEAR_MONTH}, {"format": "date"}],
    },
    OpenApiParameter.QUERY,
    description="YYYY-MM or YYYY-MM-DD (UTC); empty or absent: the current month.",
)
JOB_CLOSED = OpenApiResponse(
    description="The job is closed with another status, or has calls in progress."
)


# --- DRF views --------------------------------------------------------------------


class JobCreateView(TeamAPIView):
    @extend_schema(
        request=s.JobCreateSerializer, responses={201: s.JobCreatedSerializer}
    )
    def post(self, request: Request) -> Response:
        data = _validated(s.JobCreateSerializer, request.data).validated_data
        job = services.job_create(
            team=self.team_for_request(data["team_id"]),
            job_type=data["job_type"],
            user_id=data.get("user_id", ""),
            metadata=data.get("metadata"),
            key=request.auth,
        )
        body = {
            "job_id": str(job.job_id),
            "status": job.status,
            "created_at": selectors.iso(job.created_at),
        }
        return Response(body, status=HTTPStatus.CREATED)


class JobDetailView(TeamAPIView):
    @extend_schema(responses=s.JobWithCallsSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = services.job_get(team=request.user.team, job_id=job_id)
        return Response(
            {**selectors.job_detail(job), "calls": selectors.job_calls(job)}
        )


class JobCompleteView(TeamAPIView):
    @extend_schema(
        request=s.JobCompleteSerializer,
        responses={200: s.JobCompletionSerializer, 409: JOB_CLOSED},
    )
    def post(self, request: Request, job_id: str) -> Response:
        data = _validated(s.JobCompleteSerializer, request.data).validated_data
        job = services.job_complete(
            team=request.user.team,
            job_id=job_id,
            status=data["status"],
            metadata=data.get("metadata"),
            error_message=data.get("error_message", ""),
            actor=_actor(request),
        )
        return Response(selectors.job_completion_result(job))


class JobMetadataView(TeamAPIView):
    @extend_schema(
        request=s.JobMetadataSerializer, responses=s.JobMetadataResponseSerializer
    )
    def patch(self, request: Request, job_id: str) -> Response:
        data = _validated(s.JobMetadataSerializer, request.data).validated_data
        job = services.job_metadata_update(
            team=request.user.team, job_id=job_id, metadata=data["metadata"]
        )
        return Response({"job_id": str(job.job_id), "metadata": job.metadata})


class JobCostsView(TeamAPIView):
    @extend_schema(responses=s.JobCostsResponseSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = services.job_get(team=request.user.team, job_id=job_id)
        body = {"job_id": str(job.job_id), "status": job.status}
        return Response({**body, "costs": selectors.job_costs(job)})


class TeamJobsView(TeamOrAdminAPIView):
    @extend_schema(
        parameters=[s.TeamJobsQuerySerializer, STATUS_FILTER],
        responses=s.TeamJobsSerializer,
    )
    def get(self, request: Request, team_id: str) -> Response:
        team = self.team_for_request(team_id)
        query = _validated(
            s.TeamJobsQuerySerializer, request.query_params
        ).validated_data
        return Response(
            selectors.team_jobs_list(
                team=team,
                status=query.get("status") or None,
                limit=query["limit"],
                offset=query["offset"],
                cursor=query.get("cursor"),
            )
        )


class TeamUsageView(TeamOrAdminAPIView):
    @extend_schema(
        parameters=[s.PeriodQuerySerializer, PERIOD], responses=s.TeamUsageSerializer
    )
    def get(self, request: Request, team_id: str) -> Response:
        team = self.team_for_request(team_id)
        query = _validated(s.PeriodQuerySerializer, request.query_params).validated_data
        return Response(
            selectors.team_usage(
                team=team,
                period=query.get("period"),
                include_costs=request.user.is_operator,
            )
        )


class OrganizationUsageView(AdminAPIView):
    @extend_schema(
        parameters=[s.OrganizationUsageQuerySerializer, PERIOD],
        responses=s.OrganizationUsageSerializer,
    )
    def get(self, request: Request, organization_id: str) -> Response:
        organization = Organization.objects.filter(
            organization_id=organization_id
        ).first()
        if organization is None:
            raise NotFound(f"Organization '{organization_id}' not found")
        query = _validated(
            s.OrganizationUsageQuerySerializer, request.query_params
        ).validated_data
        # The selector answers in the documented shape, as the team's jobs do: a
        # serializer's pass over an organization's thousand teams took 10 ms.
        return Response(
            selectors.organization_usage(
                organization=organization,
                period=query.get("period"),
                limit=query["limit"],
                cursor=query.get("cursor", ""),
            )
        )
