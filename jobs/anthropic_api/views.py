"""The views of /v1/messages, /v1/messages/count_tokens and Anthropic's /v1/models."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs import pipeline
from jobs.anthropic_api.answers import EventWriter, input_tokens_count, message_body
from jobs.anthropic_api.parse import anthropic_terms, messages_request_parse
from jobs.openai_api import call_headers, job_id_of, result_headers
from jobs.pipeline import Parsed, StreamFormat
from jobs.routing import route_plan
from jobs.services import NewJob
from saas_litellm.exceptions import Dialect, InvalidInput
from teams.models import ModelAlias, Team
from teams.services import team_allowed_models

JOB_TYPE = "messages"


def _messages_parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
    parsed = messages_request_parse(body)
    return Parsed(
        call=parsed.call,
        stream=parsed.stream,
        job_id=job_id_of(request),
        new_job=NewJob(job_type=JOB_TYPE, user_id=parsed.user_id),
        extra=parsed,
    )


@pipeline.llm_endpoint("POST", Dialect.ANTHROPIC)
async def messages(request: HttpRequest, started: float) -> HttpResponse:
    try:
        admitted = await pipeline.admit(request, _messages_parse)
    except InvalidInput as exc:  # a provider check names OpenAI's parameter
        raise anthropic_terms(exc) from None
    tool_names = admitted.parsed.extra.tool_names
    if admitted.parsed.stream:
        opened = await pipeline.stream_open(admitted)
        writer = EventWriter(admitted=admitted, opened=opened, tool_names=tool_names)
        style = StreamFormat(
            chunk=writer.chunk,
            closing=writer.closing,
            error=writer.error,
            opening=writer.opening,
            encode=pipeline.typed_sse,
            done=False,
        )
        headers = call_headers(opened.ticket.call, opened.stream.started - started)
        frames = pipeline.relay(opened, style)
        return await pipeline.event_stream(request, frames, headers)
    result = await pipeline.run(admitted)
    body = message_body(result.call, result.completion, tool_names)
    body["usage"]["credits"] = result.credits()
    return JsonResponse(body, headers=result_headers(result, started))


def _tokens_counted(request: HttpRequest) -> int:
    """count_tokens: authenticated, validated and the alias's access checked as
    for a call; nothing is recorded and no provider is asked."""
    team = pipeline.authenticate(request)
    parsed = messages_request_parse(pipeline.json_body(request), counting=True)
    plan = route_plan(team=team, alias_name=parsed.call.model)
    return input_tokens_count(model=plan.routes[0].model, params=parsed.call.params)


@pipeline.llm_endpoint("POST", Dialect.ANTHROPIC)
async def count_tokens(request: HttpRequest, started: float) -> HttpResponse:
    return JsonResponse(
        {"input_tokens": await pipeline.in_database(_tokens_counted)(request)}
    )


def _model_info(alias: ModelAlias) -> dict[str, Any]:
    return {
        "type": "model",
        "id": alias.model_alias,
        "display_name": alias.display_name or alias.model_alias,
        "created_at": alias.created_at.isoformat().replace("+00:00", "Z"),
    }


def _allowed_models(request: HttpRequest) -> list[ModelAlias]:
    return list(team_allowed_models(team=pipeline.authenticate(request)))


@pipeline.llm_endpoint("GET", Dialect.ANTHROPIC)
async def models_list(request: HttpRequest, started: float) -> HttpResponse:
    """`GET /v1/models` asked with `anthropic-version` (jobs.openai_api sends it
    here): Anthropic's page of models, all on one page."""
    data = [
        _model_info(alias)
        for alias in await pipeline.in_database(_allowed_models)(request)
    ]
    return JsonResponse(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )
