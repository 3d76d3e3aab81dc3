"""The views of /v1/responses: create (streamed or not), read, delete."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from jobs import pipeline
from jobs.models import LLMCall
from jobs.openai_api import call_headers, job_id_of, result_headers
from jobs.openai_responses.answers import ResponseEvents, response_body
from jobs.openai_responses.parse import (
    JOB_TYPE,
    ResponsesRequest,
    responses_request_parse,
)
from jobs.pipeline import Admitted, Parsed
from jobs.services import (
    NewJob,
    stored_response_create,
    stored_response_delete,
    stored_response_get,
)
from saas_litellm.exceptions import Dialect, MethodRefused, error_response
from teams.models import Team

logger = logging.getLogger(__name__)


async def _store(
    parsed: ResponsesRequest, team: Team, call: LLMCall, body: dict[str, Any]
) -> None:
    """Keep the response for GET and later turns. A failure to store is logged,
    not the client's error: the call is made and billed; only its continuation
    will be a 404."""
    if not parsed.store:
        return
    try:
        await pipeline.in_database(stored_response_create)(
            team=team,
            response_id=parsed.response_id,
            call=call,
            history=parsed.history,
            input_items=parsed.input_items,
            body=body,
        )
    except Exception:
        logger.exception(
            "response %s of call %s not stored", parsed.response_id, call.call_id
        )


async def _completed(
    frames: AsyncIterator[bytes], events: ResponseEvents, team: Team
) -> AsyncIterator[bytes]:
    """The relayed frames, then, once the call is recorded and charged, the
    `response.completed` event, the response stored before it leaves (a client
    may name it in its next request at once)."""
    async with aclosing(frames):
        async for frame in frames:
            yield frame
    if events.finished is None:  # the provider failed: response.failed was sent
        return
    completed = events.completed()
    await _store(events.parsed, team, events.call, completed["response"])
    yield pipeline.typed_sse(completed)


async def _streamed(
    request: HttpRequest, admitted: Admitted, started: float
) -> HttpResponse:
    opened = await pipeline.stream_open(admitted)
    call = opened.ticket.call
    events = ResponseEvents(
        parsed=admitted.parsed.extra, call=call, closes_job=opened.ticket.closes_job
    )
    frames = pipeline.relay(opened, events.format())
    headers = call_headers(call, opened.stream.started - started)
    completed = _completed(frames, events, admitted.team)
    return await pipeline.event_stream(request, completed, headers)


# --- Views ------------------------------------------------------------------------


def _parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
    parsed = responses_request_parse(team, body)
    return Parsed(
        call=parsed.chat.call,
        stream=parsed.chat.stream,
        job_id=job_id_of(request),
        new_job=NewJob(job_type=JOB_TYPE, user_id=parsed.chat.user_id),
        extra=parsed,
    )


@pipeline.llm_endpoint("POST", Dialect.OPENAI)
async def responses_create(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _parse)
    if admitted.parsed.stream:
        return await _streamed(request, admitted, started)
    result = await pipeline.run(admitted)
    parsed: ResponsesRequest = admitted.parsed.extra
    body = response_body(parsed, result.call, result.completion, result.credits())
    await _store(parsed, admitted.team, result.call, body)
    return JsonResponse(body, headers=result_headers(result, started))


def _stored_body(request: HttpRequest, response_id: str) -> dict[str, Any]:
    team = pipeline.authenticate(request)
    return stored_response_get(team=team, response_id=response_id).body


def _stored_delete(request: HttpRequest, response_id: str) -> None:
    stored_response_delete(team=pipeline.authenticate(request), response_id=response_id)


@pipeline.llm_endpoint("GET", Dialect.OPENAI)
async def _response_get(
    request: HttpRequest, started: float, response_id: str
) -> HttpResponse:
    return JsonResponse(await pipeline.in_database(_stored_body)(request, response_id))


@pipeline.llm_endpoint("DELETE", Dialect.OPENAI)
async def _response_delete(
    request: HttpRequest, started: float, response_id: str
) -> HttpResponse:
    await pipeline.in_database(_stored_delete)(request, response_id)
    return JsonResponse({"id": response_id, "object": "response", "deleted": True})


@csrf_exempt
async def response_detail(request: HttpRequest, response_id: str) -> HttpResponse:
    """`GET` or `DELETE /v1/responses/{id}`, the team's own responses only."""
    if request.method == "GET":
        return await _response_get(request, response_id=response_id)
    if request.method == "DELETE":
        return await _response_delete(request, response_id=response_id)
    refused = MethodRefused(str(request.method), "GET, DELETE")
    return error_response(refused, Dialect.OPENAI, request)
