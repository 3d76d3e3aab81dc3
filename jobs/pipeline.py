"""The call pipeline: every LLM endpoint runs its requests through here.

    authenticate → admit → route → call the provider → record the outcome → settle

An endpoint is an adapter (`jobs/native_api.py`, `jobs/openai_api.py`,
`jobs/openai_embeddings.py`, `jobs/openai_completions.py`): `llm_endpoint`
wraps it (method check, errors in its dialect); it parses its dialect into a `Parsed`
request inside `admit`, then calls `run` (one answer) or `stream_open` + `relay` (SSE),
and writes the result in its dialect.

- admit (one trip to the database thread): the key (teams.authentication), the body,
  then `jobs.services` checks the team, the alias (`jobs.routing`), the rate limits and
  reserves the worst case (`jobs.pricing`) while recording the call. A refusal writes
  nothing.
- call: `jobs.gateway` tries the routes in order (a chat completion or, for a call
  with an `input`, an embedding); no transaction is open meanwhile.
- record and settle: `jobs.services.llm_call_finish` records the outcome; a one-call
  job is closed and charged (credits.services) in the same short transaction. The
  writes are shielded from cancellation: a client that goes away is still recorded,
  and a cut stream is billed for the tokens it used.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from credits.services import credit_account_get
from jobs import deployment_health, gateway
from jobs.gateway import Completion
from jobs.models import Job, LLMCall
from jobs.services import (
    CallOutcome,
    CallRequest,
    CallTicket,
    NewJob,
    llm_call_finish,
    llm_call_start,
    one_call_job_start,
)
from saas_litellm import metrics, tracing
from saas_litellm.exceptions import (
    DatabaseUnavailable,
    Dialect,
    InvalidInput,
    MethodRefused,
    ProviderError,
    RequestTooLarge,
    ServerShuttingDown,
    ServiceError,
    Unauthenticated,
    error_response,
    service_error_of,
)
from saas_litellm.json_input import json_parse
from saas_litellm.request_context import request_context_update
from teams.authentication import TEAM_AUTH_FAILED, VirtualKeyAuthentication
from teams.models import Team, VirtualKey

logger = logging.getLogger(__name__)
T = TypeVar("T")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Recording a call's outcome waits out a busy or lost database: 0.5 + 1 + 2 + 4 s
# between five attempts (each also waits DATABASE_POOL_TIMEOUT for a connection).
RECORD_ATTEMPTS = 5
RECORD_BACKOFF_SECONDS = 0.5


# --- The endpoint wrapper -------------------------------------------------------------


def llm_endpoint(
    method: str, dialect: Dialect
) -> Callable[[Callable[..., Awaitable[HttpResponse]]], Callable[..., Any]]:
    """One method, and every failure answered in the endpoint's dialect. The view
    gets the request, its start (time.monotonic()) and the URL's arguments."""

    def decorate(view: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Any]:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            started = time.monotonic()
            try:
                if request.method != method:
                    raise MethodRefused(str(request.method), method)
                return await view(request, started, **kwargs)
            except Exception as exc:
                error = service_error_of(exc)
                if error is None:
                    raise
                return error_response(error, dialect, request)

        return csrf_exempt(wrapper)

    return decorate


# --- The database ---------------------------------------------------------------------


# The worker's database threads (database_threads_start), or None: then in_database
# runs its functions where asgiref's thread-sensitive mode puts them.
_database_threads: ThreadPoolExecutor | None = None


def database_threads_start() -> None:
    """In each server worker, once (gunicorn.conf.py, post_fork): in_database then
    runs its functions on DATABASE_THREADS threads kept for the worker's life,
    instead of in the thread that asgiref's thread-sensitive mode makes for each
    request under Django's ASGI handler (started, then joined, per request; its
    connection wrapper built anew each time), with as many transactions at once as
    requests in the worker. A function needs no particular thread: each one takes
    a pooled connection and hands it back. Fewer transactions at once wait less on
    each other (a team's account row) and on the interpreter lock: README,
    Benchmarks, for what it changed.

    Tests and `runserver` keep the thread-sensitive mode: there a test's
    transaction lives on the connection of the thread that runs the view."""
    global _database_threads
    _database_threads = ThreadPoolExecutor(
        settings.DATABASE_THREADS, thread_name_prefix="database"
    )


def in_database(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """`function` run in a database thread, its pooled connection handed back to
    the pool when it returns: a call holds no connection while the provider works,
    so the pool's size does not bound the streams open at once. (Without a pool, a
    database thread's connection is kept or closed as at a request's end; inside
    a transaction, a test's, it stays.)"""

    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            if connection.connection is not None and not connection.in_atomic_block:
                if getattr(connection, "pool", None) is not None:
                    connection.close()
                elif _database_threads is not None:  # as at a request's end
                    connection.close_if_unusable_or_obsolete()

    if _database_threads is None:
        return sync_to_async(run)
    return sync_to_async(run, thread_sensitive=False, executor=_database_threads)


# --- Admit ----------------------------------------------------------------------------


def authenticated_key(request: HttpRequest) -> VirtualKey:
    """The caller's key, with its team, by the same rules as the DRF views (401
    otherwise)."""
    result = VirtualKeyAuthentication().authenticate(request)  # type: ignore[arg-type]
    if result is None:
        raise Unauthenticated(TEAM_AUTH_FAILED)
    _, key = result
    return key


def authenticate(request: HttpRequest) -> Team:
    """The caller's team (401 without a usable key)."""
    return authenticated_key(request).team


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object (400 otherwise, 413 over the size limit)."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise RequestTooLarge() from None
    data = json_parse(raw or b"null")
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object")
    return data


@dataclass(frozen=True)
class Parsed:
    """An adapter's request: the call, where it goes (`job_id`: an open job of the
    team; else `new_job`, a one-call job), whether it streams, and whatever the
    adapter keeps for its answer (`extra`)."""

    call: CallRequest
    stream: bool = False
    job_id: str | None = None
    new_job: NewJob | None = None
    extra: Any = None


@dataclass(frozen=True)
class Admitted:
    team: Team
    parsed: Parsed
    ticket: CallTicket


def _admit(
    request: HttpRequest,
    parse: Callable[[Team, dict[str, Any], HttpRequest], Parsed],
    queued_at: float,
) -> Admitted:
    # Queued for a database thread longer than a request may queue for a pooled
    # connection: the worker is overwhelmed; refused, with nothing written.
    if time.monotonic() - queued_at > settings.DATABASE_POOL_BUSY_TIMEOUT:
        raise DatabaseUnavailable()
    key = authenticated_key(request)  # a bad key is a 401 before a bad body a 400
    team = key.team
    parsed = parse(team, json_body(request), request)
    if parsed.job_id is not None:
        ticket = llm_call_start(
            team=team, job_id=parsed.job_id, request=parsed.call, streamed=parsed.stream
        )
    else:
        ticket = one_call_job_start(
            team=team,
            new_job=parsed.new_job or NewJob(job_type="llm-call"),
            request=parsed.call,
            streamed=parsed.stream,
            key=key,
        )
    request_context_update(alias=parsed.call.model)
    return Admitted(team=team, parsed=parsed, ticket=ticket)


async def admit(
    request: HttpRequest, parse: Callable[[Team, dict[str, Any], HttpRequest], Parsed]
) -> Admitted:
    """Authenticate, parse (`parse(team, body, request)`), check, reserve and record
    the call: one trip to the database thread, nothing sent to a provider yet."""
    with tracing.span("llm.admit") as span:
        admitted = await in_database(_admit)(request, parse, time.monotonic())
        span.set_attributes(
            {
                "team.id": admitted.team.team_id,
                "llm.alias": admitted.ticket.call.model_alias,
            }
        )
        return admitted


# --- Call, record, settle -------------------------------------------------------------


def _error_of(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"{exc.code}: {getattr(exc, 'internal', '')}"
    return f"provider_error: cancelled ({type(exc).__name__})"


def _record_attempt(**outcome: Any) -> CallOutcome | None:
    """`llm_call_finish`, or None when the database could not be reached (no
    pooled connection in time, a connection lost): its one transaction rolled back
    as a whole, so trying again charges nothing twice."""
    try:
        return llm_call_finish(**outcome)
    except OperationalError:
        if connection.in_atomic_block:  # a test's transaction: no second try
            raise
        connection.close()
        return None


async def _recorded(**outcome: Any) -> CallOutcome:
    """A call that was made must be recorded and billed: its outcome is tried
    again while the database cannot be reached, waiting between attempts on the
    event loop (not on a database thread, which other requests need)."""
    for attempt in range(RECORD_ATTEMPTS):
        recorded = await in_database(_record_attempt)(**outcome)
        if recorded is not None:
            return recorded
        logger.warning("call outcome not recorded yet (attempt %s)", attempt + 1)
        if attempt < RECORD_ATTEMPTS - 1:
            await asyncio.sleep(RECORD_BACKOFF_SECONDS * 2**attempt)
    raise OperationalError(f"call outcome not recorded in {RECORD_ATTEMPTS} attempts")


async def _finish(
    ticket: CallTicket, *, job_error: str | None = None, **outcome: Any
) -> tuple[LLMCall, int | None]:
    """Record the call's outcome (shielded: recorded even when the request task is
    being cancelled); answers the call and, when a one-call job was charged, the
    credits left. A one-call job that cannot be closed (its client, who knows it
    from a stream's headers, closed it or gave it another call meanwhile) is left
    to whoever does that, as in the two-step flow."""
    try:
        with tracing.span("llm.settle", **{"llm.call_id": str(ticket.call.call_id)}):
            outcome_of = await asyncio.shield(
                _recorded(ticket=ticket, job_error=job_error, **outcome)
            )
    except ServiceError as refusal:
        if not ticket.closes_job:
            raise
        logger.info("job %s left to its client: %s", ticket.call.job.job_id, refusal)
        return ticket.call, None
    request_context_update(credits_charged=outcome_of.job.credits_charged)
    metrics.llm_call_recorded(team_id=ticket.team.team_id, outcome=outcome_of)
    completion = outcome.get("completion")
    if completion is not None and ticket.attempts.tracked:
        deployment_health.later(
            deployment_health.tokens_used, completion.route, completion.total_tokens
        )
    return outcome_of.call, outcome_of.credits_remaining


# --- Shutdown -------------------------------------------------------------------------

# The request tasks waiting on a provider, so that a worker shutting down can cut them
# while their recording can still be done (saas_litellm/asgi_worker.py).
_in_flight: set[asyncio.Task[Any]] = set()
_shutting_down = False


@contextmanager
def _cuttable() -> Iterator[None]:
    task = cast(asyncio.Task[Any], asyncio.current_task())  # in a coroutine: never None
    _in_flight.add(task)
    try:
        yield
    finally:
        _in_flight.discard(task)


def calls_cut() -> int:
    """Cancel every call still waiting on its provider (a worker's shutdown, just
    before its deadline): each records itself as a client's disconnect would, a
    stream billed for what it used. Answers how many were cut."""
    global _shutting_down
    _shutting_down = True
    cut = list(_in_flight)
    for task in cut:
        task.cancel()
    if cut:
        logger.warning("shutdown: %s call(s) cut before the graceful timeout", len(cut))
    return len(cut)


async def _provider_await(ticket: CallTicket, attempt: Awaitable[T]) -> T:
    """Await the provider for a recorded call. A provider error is recorded (and
    fails a one-call job with its message); so is a cancellation, which leaves a
    one-call job open, unless the worker's shutdown cut it: then it is answered
    `ServerShuttingDown` and fails its one-call job."""
    try:
        with (
            _cuttable(),
            tracing.span("llm.provider", **{"llm.alias": ticket.call.model_alias}),
        ):
            return await attempt
    except ServiceError as exc:
        await _finish(ticket, error=_error_of(exc), job_error=exc.detail)
        raise
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and _shutting_down:
            failure = ServerShuttingDown()
            await _finish(ticket, error=_error_of(failure), job_error=failure.detail)
            raise failure from None
        await _finish(ticket, error=_error_of(exc))
        raise


@dataclass(frozen=True)
class Result:
    """A recorded successful call. `credits_charged` is what its job was charged
    (0 while the job stays open); `credits_remaining` the team's balance after."""

    call: LLMCall
    job: Job
    completion: Completion
    credits_charged: int
    credits_remaining: int

    def credits(self) -> dict[str, int]:
        """`usage.credits` of the answers: what it cost (0 on an open job, charged
        when the job is completed) and what the team has left."""
        return {"charged": self.credits_charged, "remaining": self.credits_remaining}


async def _result(
    ticket: CallTicket, call: LLMCall, completion: Completion, remaining: int | None
) -> Result:
    """The recorded call with its credits (the balance read when the settlement
    did not tell it: a call on an open job)."""
    if remaining is None:
        account = await in_database(credit_account_get)(team=ticket.team)
        remaining = account.credits_remaining
    charged = (call.job.credits_charged or 0) if ticket.closes_job else 0
    return Result(
        call=call,
        job=call.job,
        completion=completion,
        credits_charged=charged,
        credits_remaining=remaining,
    )


async def run(admitted: Admitted) -> Result:
    """Call the provider (through the fallbacks), record the outcome, settle."""
    ticket = admitted.ticket
    answer = gateway.embedding_run if ticket.params.embeds else gateway.completion_run
    completion = await _provider_await(
        ticket, answer(attempts=ticket.attempts, params=ticket.params)
    )
    call, remaining = await _finish(ticket, completion=completion)
    return await _result(ticket, call, completion, remaining)


@dataclass
class OpenStream:
    ticket: CallTicket
    stream: gateway.Stream


async def stream_open(admitted: Admitted) -> OpenStream:
    """Open the provider stream (its first chunk read, through the fallbacks): a
    failure here is an ordinary error response, recorded like `run`'s."""
    ticket = admitted.ticket
    stream = await _provider_await(
        ticket,
        gateway.completion_stream_open(attempts=ticket.attempts, params=ticket.params),
    )
    metrics.first_token_received(
        alias=ticket.call.model_alias, seconds=stream.first_token_seconds or 0.0
    )
    return OpenStream(ticket=ticket, stream=stream)


Frames = dict[str, Any] | list[dict[str, Any]] | None


def sse(payload: dict[str, Any] | str) -> bytes:
    """A `data:` frame (OpenAI's and the native streams)."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def typed_sse(payload: dict[str, Any]) -> bytes:
    """An `event:` + `data:` frame named by the payload's `type` (Anthropic's
    Messages and OpenAI's Responses streams)."""
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


@dataclass(frozen=True)
class StreamFormat:
    """How a relayed stream is written. Each callable answers a frame, a list of
    frames or None: `opening` before the first provider chunk, `chunk` for each
    provider chunk, `closing` after the last (the call recorded and settled: its
    Result, credits included), `error` for an error after the first byte.
    `encode` frames a payload; `done` ends the stream with `data: [DONE]` (OpenAI's
    chat and completions, the native streams)."""

    chunk: Callable[[dict[str, Any]], Frames]
    closing: Callable[[Result], Frames]
    error: Callable[[ProviderError], Frames]
    opening: Callable[[], Frames] = lambda: None
    encode: Callable[[dict[str, Any]], bytes] = sse
    done: bool = True

    def write(self, frames: Frames) -> bytes:
        if frames is None:
            return b""
        if isinstance(frames, dict):
            return self.encode(frames)
        return b"".join(self.encode(frame) for frame in frames)


async def relay(opened: OpenStream, style: StreamFormat) -> AsyncIterator[bytes]:
    """The provider's chunks as SSE frames, a closing frame, then [DONE].

    A stream that ends without the provider's usage is billed at its reserved worst
    case. If the client goes away the generator is cancelled or closed; the
    `finally` still records the call with an estimate of what it used, so it is
    billed."""
    ticket, stream = opened.ticket, opened.stream
    done = sse("[DONE]") if style.done else b""
    recorded = False
    metrics.stream_opened()
    try:
        try:
            opening = style.write(style.opening())
            if opening:
                yield opening
            with _cuttable():
                async for frame in stream.frames():
                    written = style.write(style.chunk(frame))
                    if written:
                        yield written
        except Exception as exc:
            failure = gateway.stream_failure(exc, stream.route)
            recorded = True
            await _finish(ticket, error=_error_of(failure), job_error=failure.detail)
            yield style.write(style.error(failure)) + done
            return
        except asyncio.CancelledError:
            if not _shutting_down:
                raise
            # Cut by the worker's shutdown (`calls_cut`): billed for what it used, and
            # the client is told why rather than left with a broken connection.
            completion = stream.completion()
            completion.finish_reason = completion.finish_reason or "server_shutdown"
            recorded = True
            await _finish(ticket, completion=completion)
            yield style.write(style.error(ServerShuttingDown())) + done
            return
        completion = stream.completion()
        recorded = True
        call, remaining = await _finish(
            ticket, completion=completion, at_worst_case=True
        )
        result = await _result(ticket, call, completion, remaining)
        closing = style.write(style.closing(result)) + done
        if closing:
            yield closing
    finally:
        metrics.stream_closed()
        if not recorded:
            completion = stream.completion()
            completion.finish_reason = completion.finish_reason or "client_disconnected"
            await _finish(ticket, completion=completion)
        await stream.close()


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
