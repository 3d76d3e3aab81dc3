"""The async side of LLM calls: await the provider with no transaction open.

`jobs.services.llm_call_start` records and reserves (a short transaction); these
functions await the provider through `jobs.llm`, then `llm_call_finish` records the
outcome. The outcome is written even when the client goes away: the writes are
shielded from cancellation, and a cut stream is billed for the tokens it used.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async

from jobs import llm
from jobs.models import Job, LLMCall
from jobs.selectors import iso, job_costs
from jobs.services import (
    CallOutcome,
    CallRequest,
    CallTicket,
    job_call_finish,
    llm_call_finish,
    llm_call_start,
)
from saas_litellm.exceptions import ProviderError, ServiceError
from teams.models import Team

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _error_of(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        internal = getattr(exc, "internal", "")
        return f"{exc.code}: {internal}"
    return f"provider_error: cancelled ({type(exc).__name__})"


async def _finish(
    ticket: CallTicket, *, job_error: str | None = None, **outcome: Any
) -> LLMCall:
    """Record the call's outcome; a one-call job's call also closes its job:
    completed when the call succeeded, failed with `job_error` when given, left
    open (for jobs_expire) after a cancellation."""
    if not ticket.closes_job:
        # Shielded: recorded even when the request task is being cancelled.
        return await asyncio.shield(
            sync_to_async(llm_call_finish)(ticket=ticket, **outcome)
        )
    try:
        return (await _job_call_finish(ticket, job_error=job_error, **outcome)).call
    except ServiceError as refusal:
        # The outcome is recorded, but a stream's job is known to the client from
        # its headers and may have been closed, or given another call, meanwhile:
        # then it is closed by whoever does that, as in the two-step flow.
        logger.info("job %s left to its client: %s", ticket.call.job.job_id, refusal)
        return ticket.call


async def _provider_await(ticket: CallTicket, attempt: Awaitable[T]) -> T:
    """Await the provider for a recorded call. A provider error is recorded (and
    fails a one-call job with its message); so is a cancellation, which leaves a
    one-call job open."""
    try:
        return await attempt
    except ServiceError as exc:
        await _finish(ticket, error=_error_of(exc), job_error=exc.detail)
        raise
    except BaseException as exc:
        await _finish(ticket, error=_error_of(exc))
        raise


def call_result(call: LLMCall, completion: llm.Completion) -> dict[str, Any]:
    response: dict[str, Any] = {
        "content": completion.content,
        "finish_reason": completion.finish_reason,
    }
    if completion.tool_calls:
        response["tool_calls"] = completion.tool_calls
    return {
        "call_id": str(call.call_id),
        "response": response,
        "metadata": {
            "tokens_used": completion.total_tokens,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "latency_ms": completion.latency_ms,
            "model": call.model_alias,
        },
    }


async def llm_call_execute(
    *, team: Team, job_id: str, request: CallRequest
) -> tuple[LLMCall, llm.Completion]:
    """One non-streamed call on an open job: record, call the provider, record."""
    ticket = await sync_to_async(llm_call_start)(
        team=team, job_id=job_id, request=request
    )
    completion = await _provider_await(
        ticket, llm.completion_run(routes=ticket.routes, params=request.params)
    )
    call = await _finish(ticket, completion=completion)
    return call, completion


async def llm_call_run(
    *, team: Team, job_id: str, request: CallRequest
) -> dict[str, Any]:
    """llm_call_execute, answered in the jobs API's shape."""
    call, completion = await llm_call_execute(team=team, job_id=job_id, request=request)
    return call_result(call, completion)


@dataclass
class OpenStream:
    ticket: CallTicket
    stream: llm.Stream


async def llm_call_stream_open(
    *, team: Team, job_id: str, request: CallRequest
) -> OpenStream:
    """Record the call and open the provider stream (errors here are plain JSON)."""
    ticket = await sync_to_async(llm_call_start)(
        team=team, job_id=job_id, request=request, streamed=True
    )
    stream = await _provider_await(
        ticket, llm.completion_stream_open(routes=ticket.routes, params=request.params)
    )
    return OpenStream(ticket=ticket, stream=stream)


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def usage_of(completion: llm.Completion) -> dict[str, int]:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
    }


@dataclass(frozen=True)
class StreamFormat:
    """How a relayed stream is written: each provider chunk, the closing frame
    (None for none) and the frame of an error after the first byte."""

    chunk: Callable[[dict[str, Any]], dict[str, Any]]
    closing: Callable[[LLMCall, llm.Completion], dict[str, Any] | None]
    error: Callable[[ProviderError], dict[str, Any]]


def llm_call_stream_frames(
    opened: OpenStream, *, extra: dict[str, Any] | None = None
) -> AsyncIterator[bytes]:
    """SSE frames as the provider produces them, a usage frame, then [DONE]."""
    return llm_call_stream_relay(
        opened,
        StreamFormat(
            chunk=lambda frame: frame,
            closing=lambda call, completion: {
                "usage": usage_of(completion),
                "call_id": str(call.call_id),
                **(extra or {}),
            },
            error=lambda failure: {
                "error": {"message": failure.detail, "type": failure.code}
            },
        ),
    )


async def llm_call_stream_relay(
    opened: OpenStream, style: StreamFormat
) -> AsyncIterator[bytes]:
    """The provider's chunks as SSE frames, a closing frame, then [DONE].

    If the client goes away the generator is cancelled or closed; the `finally`
    still records the call with the usage seen so far, so it is billed.
    """
    ticket, stream = opened.ticket, opened.stream
    recorded = False
    try:
        try:
            async for frame in stream.frames():
                yield sse(style.chunk(frame))
        except Exception as exc:
            failure = llm.stream_failure(exc, stream.route)
            recorded = True
            await _finish(ticket, error=_error_of(failure), job_error=failure.detail)
            yield sse(style.error(failure))
            yield sse("[DONE]")
            return
        completion = stream.completion()
        recorded = True
        call = await _finish(ticket, completion=completion)
        closing = style.closing(call, completion)
        if closing is not None:
            yield sse(closing)
        yield sse("[DONE]")
    finally:
        if not recorded:
            completion = stream.completion()
            completion.finish_reason = completion.finish_reason or "client_disconnected"
            await _finish(ticket, completion=completion)
        await stream.close()


# --- One-shot jobs ----------------------------------------------------------------
# The view starts the job and its call with jobs.services.job_call_start in the same
# trip to the database thread as authentication; these functions await the provider
# and then record the outcome and close the job in one more trip (job_call_finish).


async def _job_call_finish(
    ticket: CallTicket, *, job_error: str | None = None, **outcome: Any
) -> CallOutcome:
    # Shielded like _finish: the outcome is recorded even when the task is cancelled.
    return await asyncio.shield(
        sync_to_async(job_call_finish)(ticket=ticket, job_error=job_error, **outcome)
    )


async def job_call_execute(
    *, ticket: CallTicket, request: CallRequest
) -> tuple[Job, LLMCall, llm.Completion, int | None]:
    """Make a started one-call job's call and complete the job; a failed call
    fails it. Answers the job, its call, the completion and the credits the team
    has left when the job was charged (else None)."""
    completion = await _provider_await(
        ticket, llm.completion_run(routes=ticket.routes, params=request.params)
    )
    outcome = await _job_call_finish(ticket, completion=completion)
    return outcome.job, outcome.call, completion, outcome.credits_remaining


async def job_call_run(*, ticket: CallTicket, request: CallRequest) -> dict[str, Any]:
    """job_call_execute, answered in the jobs API's shape (create-and-call)."""
    job, call, completion, remaining = await job_call_execute(
        ticket=ticket, request=request
    )
    if remaining is None:
        remaining = (await sync_to_async(job_costs)(job))["credits_remaining"]
    return {
        "job_id": str(job.job_id),
        "status": job.status,
        **call_result(call, completion),
        "costs": {
            "credits_charged": job.credits_charged or 0,
            "credits_remaining": remaining,
        },
        "completed_at": iso(job.completed_at),
    }


async def job_call_stream_open(
    *, ticket: CallTicket, request: CallRequest
) -> OpenStream:
    """Open the provider stream of a started one-call job (a failure fails the
    job). Relaying it records the call and closes the job (see _finish)."""
    stream = await _provider_await(
        ticket, llm.completion_stream_open(routes=ticket.routes, params=request.params)
    )
    return OpenStream(ticket=ticket, stream=stream)
