"""Jobs API. The LLM endpoints are async Django views, so an open stream costs no
thread; the other endpoints are ordinary DRF views.

The async views authenticate with the same class as the DRF views and answer errors
with the same bodies as the DRF exception handler.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from http import HTTPStatus
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import calls, selectors, services
from jobs import serializers as s
from jobs.exceptions import RequestTooLarge
from jobs.services import CallRequest, CallTicket, job_call_start
from saas_litellm.exceptions import (
    InvalidInput,
    NotFound,
    ServiceError,
    TeamMismatch,
    service_error_of,
)
from teams.authentication import TEAM_AUTH_FAILED, VirtualKeyAuthentication
from teams.models import Organization, Team
from teams.permissions import AdminAPIView, TeamAPIView, TeamOrAdminAPIView

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _validated(serializer_class: type[serializers.Serializer], data: Any) -> Any:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def _actor(request: Request) -> str:
    return str(request.user)


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
    @extend_schema(request=s.JobCompleteSerializer, responses=s.JobCompletionSerializer)
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
        parameters=[s.TeamJobsQuerySerializer], responses=s.TeamJobsSerializer
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
            )
        )


class TeamUsageView(TeamOrAdminAPIView):
    @extend_schema(
        parameters=[s.PeriodQuerySerializer], responses=s.TeamUsageSerializer
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
        parameters=[s.PeriodQuerySerializer], responses=s.OrganizationUsageSerializer
    )
    def get(self, request: Request, organization_id: str) -> Response:
        organization = Organization.objects.filter(
            organization_id=organization_id
        ).first()
        if organization is None:
            raise NotFound(f"Organization '{organization_id}' not found")
        query = _validated(s.PeriodQuerySerializer, request.query_params).validated_data
        return Response(
            selectors.organization_usage(
                organization=organization, period=query.get("period")
            )
        )


# --- Async LLM views --------------------------------------------------------------


def _error_response(error: ServiceError) -> JsonResponse:
    return JsonResponse(error.body(), status=error.status_code, headers=error.headers())


def _team_authenticate(request: HttpRequest) -> Team:
    """The caller's team, by the same rules as TeamAPIView (401 otherwise)."""
    result = VirtualKeyAuthentication().authenticate(request)  # type: ignore[arg-type]
    if result is None:
        raise AuthenticationFailed(TEAM_AUTH_FAILED)
    principal, _ = result
    return principal.team


def _json_body(request: HttpRequest) -> Any:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise RequestTooLarge() from None
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Malformed request body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object")
    return data


def async_team_endpoint(
    view: Callable[..., Awaitable[HttpResponse]] | None = None,
    *,
    authenticate: bool = True,
) -> Any:
    """POST only, team key only, and the API's error bodies for every failure.

    The view gets the caller's team and the JSON body. With `authenticate=False`
    it gets only the request and must, in its first trip to the database thread,
    call `_team_authenticate` and then `_json_body` (in that order: a bad key is
    a 401 before a bad body is a 400).
    """
    if view is None:
        return functools.partial(async_team_endpoint, authenticate=authenticate)

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return JsonResponse(
                {"detail": f'Method "{request.method}" not allowed.'},
                status=HTTPStatus.METHOD_NOT_ALLOWED,
                headers={"Allow": "POST"},
            )
        try:
            if not authenticate:
                return await view(request, **kwargs)
            team = await sync_to_async(_team_authenticate)(request)
            return await view(request, team, _json_body(request), **kwargs)
        except AuthenticationFailed as exc:
            return JsonResponse(
                {"detail": str(exc.detail)},
                status=HTTPStatus.UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        except (serializers.ValidationError, ServiceError) as exc:
            # The same mapping as the DRF handler: one error shape for every view.
            return _error_response(service_error_of(exc))

    return csrf_exempt(wrapper)


async def event_stream(
    request: HttpRequest,
    frames: AsyncIterator[bytes],
    headers: dict[str, str] | None = None,
) -> StreamingHttpResponse:
    """An SSE response. Under ASGI the frames go out as the provider produces them.

    Under WSGI (runserver, pytest-django's live_server) Django would consume the
    async iterator in another event loop than the one the provider stream was
    opened on, which breaks it; and it would read it whole before sending anyway.
    So there the frames are read here, on the view's loop, and sent in one go.
    """
    content: AsyncIterator[bytes] | list[bytes]
    if isinstance(request, ASGIRequest):
        content = await _started(frames)
    else:
        content = [frame async for frame in frames]
    return StreamingHttpResponse(
        content,
        content_type="text/event-stream",
        headers={**SSE_HEADERS, **(headers or {})},
    )


async def _started(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`frames` with its first frame already taken. A client that goes away after
    the response's headers but before its body is read leaves the frames unread;
    once started, an async generator is still closed (its `finally` records the
    call) when it is dropped, by the event loop's finalizer; unstarted, never."""
    first = await anext(aiter(frames), None)

    async def rest() -> AsyncIterator[bytes]:
        async with aclosing(frames):
            if first is not None:
                yield first
            async for frame in frames:
                yield frame

    return rest()


def _create_fields(data: dict[str, Any], team: Team) -> dict[str, Any]:
    if data["team_id"] != team.team_id:
        raise TeamMismatch(data["team_id"])
    return {
        "team": team,
        "job_type": data["job_type"],
        "user_id": data.get("user_id", ""),
        "metadata": data.get("metadata"),
    }


@async_team_endpoint
async def llm_call(
    request: HttpRequest, team: Team, body: dict[str, Any], job_id: str
) -> HttpResponse:
    call_request = _validated(s.LLMCallSerializer, body).call_request()
    result = await calls.llm_call_run(team=team, job_id=job_id, request=call_request)
    return JsonResponse(result)


@async_team_endpoint
async def llm_call_stream(
    request: HttpRequest, team: Team, body: dict[str, Any], job_id: str
) -> HttpResponse:
    call_request = _validated(s.LLMCallSerializer, body).call_request()
    opened = await calls.llm_call_stream_open(
        team=team, job_id=job_id, request=call_request
    )
    return await event_stream(request, calls.llm_call_stream_frames(opened))


def _create_and_call_start(
    request: HttpRequest, *, streamed: bool
) -> tuple[CallTicket, CallRequest]:
    """Authenticate, validate and start the one-call job: one database trip."""
    team = _team_authenticate(request)
    serializer = _validated(s.CreateAndCallSerializer, _json_body(request))
    call_request = serializer.call_request()
    ticket = job_call_start(
        **_create_fields(serializer.validated_data, team),
        request=call_request,
        streamed=streamed,
    )
    return ticket, call_request


@async_team_endpoint(authenticate=False)
async def create_and_call(request: HttpRequest) -> HttpResponse:
    ticket, call_request = await sync_to_async(_create_and_call_start)(
        request, streamed=False
    )
    return JsonResponse(await calls.job_call_run(ticket=ticket, request=call_request))


@async_team_endpoint(authenticate=False)
async def create_and_call_stream(request: HttpRequest) -> HttpResponse:
    ticket, call_request = await sync_to_async(_create_and_call_start)(
        request, streamed=True
    )
    opened = await calls.job_call_stream_open(ticket=ticket, request=call_request)
    job_id = str(ticket.call.job.job_id)
    frames = calls.llm_call_stream_frames(opened, extra={"job_id": job_id})
    return await event_stream(request, frames)
