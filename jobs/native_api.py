"""The native LLM endpoints, adapters over the call pipeline (jobs.pipeline):

- `POST /api/jobs/{job_id}/llm-call[-stream]`: a call on an open job;
- `POST /api/jobs/create-and-call[-stream]`: a one-call job (create, call, complete);
- `POST /api/jobs/{job_id}/embeddings`: an embedding on an open job (the input as
  `/v1/embeddings` takes it), so that a job groups every kind of call.

Errors are the native `{"detail", "code"}`. Streams are SSE: the provider's chunks
(model = the alias), a closing `{"usage", "call_id"[, "job_id"]}` frame, `[DONE]`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from jobs import pipeline
from jobs import serializers as s
from jobs.gateway import usage_of
from jobs.openai_embeddings import embedding_request_parse
from jobs.pipeline import Admitted, Parsed, StreamFormat
from jobs.selectors import iso
from jobs.services import NewJob
from saas_litellm.exceptions import Dialect, ProviderError, TeamMismatch
from teams.models import Team


def _validated(serializer_class: type[s.LLMCallSerializer], body: Any) -> Any:
    serializer = serializer_class(data=body)
    serializer.is_valid(raise_exception=True)
    return serializer


def _job_call(job_id: str, *, stream: bool) -> Any:
    def parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
        call = _validated(s.LLMCallSerializer, body).call_request()
        return Parsed(call=call, stream=stream, job_id=job_id)

    return parse


def _job_embedding(job_id: str) -> Any:
    def parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
        notes = _validated(s.CallNotesSerializer, body).validated_data
        embedding = embedding_request_parse(body).call
        embedding.purpose = notes.get("purpose", "")
        embedding.call_metadata = notes.get("call_metadata") or {}
        return Parsed(call=embedding, job_id=job_id)

    return parse


def _one_call_job(*, stream: bool) -> Any:
    def parse(team: Team, body: dict[str, Any], request: HttpRequest) -> Parsed:
        serializer = _validated(s.CreateAndCallSerializer, body)
        data = serializer.validated_data
        if data["team_id"] != team.team_id:
            raise TeamMismatch(data["team_id"])
        new_job = NewJob(
            job_type=data["job_type"],
            user_id=data.get("user_id", ""),
            metadata=data.get("metadata"),
        )
        return Parsed(call=serializer.call_request(), stream=stream, new_job=new_job)

    return parse


def call_result(result: pipeline.Result) -> dict[str, Any]:
    completion = result.completion
    response: dict[str, Any] = {
        "content": completion.content,
        "finish_reason": completion.finish_reason,
    }
    if completion.tool_calls:
        response["tool_calls"] = completion.tool_calls
    return {
        "call_id": str(result.call.call_id),
        "response": response,
        "metadata": {
            "tokens_used": completion.total_tokens,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "latency_ms": completion.latency_ms,
            "model": result.call.model_alias,
        },
    }


def _stream_format(admitted: Admitted) -> StreamFormat:
    extra = {}
    if admitted.ticket.closes_job:
        extra["job_id"] = str(admitted.ticket.call.job.job_id)

    def closing(result: pipeline.Result) -> dict[str, Any]:
        return {
            "usage": usage_of(result.completion),
            "call_id": str(result.call.call_id),
            **extra,
            "credits": result.credits(),
        }

    def error(failure: ProviderError) -> dict[str, Any]:
        return {"error": {"message": failure.detail, "type": failure.code}}

    return StreamFormat(chunk=lambda frame: frame, closing=closing, error=error)


async def _streamed(request: HttpRequest, admitted: Admitted) -> HttpResponse:
    opened = await pipeline.stream_open(admitted)
    frames = pipeline.relay(opened, _stream_format(admitted))
    return await pipeline.event_stream(request, frames)


@pipeline.llm_endpoint("POST", Dialect.NATIVE)
async def llm_call(request: HttpRequest, started: float, job_id: str) -> HttpResponse:
    admitted = await pipeline.admit(request, _job_call(job_id, stream=False))
    return JsonResponse(call_result(await pipeline.run(admitted)))


@pipeline.llm_endpoint("POST", Dialect.NATIVE)
async def llm_call_stream(
    request: HttpRequest, started: float, job_id: str
) -> HttpResponse:
    admitted = await pipeline.admit(request, _job_call(job_id, stream=True))
    return await _streamed(request, admitted)


@pipeline.llm_endpoint("POST", Dialect.NATIVE)
async def create_and_call(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _one_call_job(stream=False))
    result = await pipeline.run(admitted)
    return JsonResponse(
        {
            "job_id": str(result.job.job_id),
            "status": result.job.status,
            **call_result(result),
            "costs": {
                "credits_charged": result.credits_charged,
                "credits_remaining": result.credits_remaining,
            },
            "completed_at": iso(result.job.completed_at),
        }
    )


@pipeline.llm_endpoint("POST", Dialect.NATIVE)
async def create_and_call_stream(request: HttpRequest, started: float) -> HttpResponse:
    admitted = await pipeline.admit(request, _one_call_job(stream=True))
    return await _streamed(request, admitted)


@pipeline.llm_endpoint("POST", Dialect.NATIVE)
async def embeddings(request: HttpRequest, started: float, job_id: str) -> HttpResponse:
    admitted = await pipeline.admit(request, _job_embedding(job_id))
    result = await pipeline.run(admitted)
    completion = result.completion
    return JsonResponse(
        {
            "call_id": str(result.call.call_id),
            "embeddings": completion.embeddings or [],
            "metadata": {
                "tokens_used": completion.total_tokens,
                "prompt_tokens": completion.prompt_tokens,
                "latency_ms": completion.latency_ms,
                "model": result.call.model_alias,
            },
        }
    )
