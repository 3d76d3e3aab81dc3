"""The async client, :class:`SaasLiteLLMClient`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import anyio
import httpx
import pydantic

from ._base import ClientBase, transport_error
from ._calls import (
    Call,
    chat_call,
    complete_job_call,
    create_job_call,
    delete_response_call,
    embed_call,
    get_balance_call,
    get_job_call,
    get_key_info_call,
    get_response_call,
    parse_structured,
    respond_call,
    structured_response_format,
)
from ._stream import (
    ChatStreamBase,
    EventReader,
    ResponseStreamBase,
    ResponseStreamState,
    StreamState,
)
from .models import (
    Balance,
    ChatMessage,
    ChatResult,
    EmbeddingResult,
    Job,
    JobCompletion,
    JobDetails,
    JobRef,
    KeyInfo,
    Response,
    ResponseDeleted,
    ResponseRef,
    ResponseStreamEvent,
    StreamEvent,
)

__all__ = ["AsyncChatStream", "AsyncResponseStream", "SaasLiteLLMClient"]

T = TypeVar("T")
EventT = TypeVar("EventT")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class SaasLiteLLMClient(ClientBase[httpx.AsyncClient]):
    """Async client of the SaaS LiteLLM team API.

    Use it as an async context manager so its connections are closed::

        async with SaasLiteLLMClient(
            base_url="http://localhost:8003",
            team_id="acme-corp",
            virtual_key="sk-...",
        ) as client:
            job = await client.create_job("document_analysis")
            result = await client.chat(job.job_id, "gpt-4o", [
                {"role": "user", "content": "Hello"},
            ])
            await client.complete_job(job.job_id)

    Args:
        base_url: Server root, e.g. ``"http://localhost:8003"`` (a trailing ``/api``
            is accepted too).
        team_id: The team the virtual key belongs to; sent where the API needs it.
        virtual_key: The team's ``sk-…`` key, sent as ``Authorization: Bearer``.
        timeout: Seconds, or an ``httpx.Timeout`` (default: 60 s read, 5 s connect).
        max_retries: Retries on transient failures (default 2, 0 disables). See
            :class:`saas_litellm_client.RetryPolicy` for what is retried: never an LLM
            call or job creation that the server may already have processed.
        retry_backoff: First backoff delay in seconds, doubled each retry, jittered.
        retry_backoff_max: Upper bound of one backoff delay.
        max_retry_after: Longest ``Retry-After`` (seconds) the client waits on a 429;
            a longer one raises :class:`RateLimitError` at once.
        headers: Extra headers sent with every request.
        http_client: An ``httpx.AsyncClient`` to use (for proxies, custom transports);
            the caller keeps ownership and closes it.
    """

    def _new_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient()

    async def __aenter__(self) -> SaasLiteLLMClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (only if the client created its own httpx client)."""
        if self._owns_http:
            await self._http.aclose()

    # Jobs

    async def create_job(
        self,
        job_type: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Job:
        """Create a job that will group LLM calls; one credit is reserved for it.

        Args:
            job_type: Free label used in usage reports, e.g. ``"document_analysis"``.
            user_id: Your end user's id, for your own reporting.
            metadata: Any JSON object stored with the job.

        Returns:
            The new :class:`Job` (``job_id``, ``status="pending"``, ``created_at``).

        Raises:
            PermissionDeniedError: The team is suspended, paused or out of credits
                (subclasses :class:`TeamSuspendedError`, :class:`TeamPausedError`,
                :class:`InsufficientCreditsError`).
        """
        call = create_job_call(
            self.team_id, job_type, user_id=user_id, metadata=metadata
        )
        return await self._execute(call)

    async def get_job(self, job_id: JobRef) -> JobDetails:
        """Fetch one of the team's jobs; another team's or an unknown job is a 404."""
        return await self._execute(get_job_call(job_id))

    async def complete_job(
        self,
        job_id: JobRef,
        status: str = "completed",
        *,
        metadata: Mapping[str, Any] | None = None,
        error_message: str | None = None,
    ) -> JobCompletion:
        """Close a job and charge it; ``status="failed"`` releases it without charge.

        Completing twice returns the first result and never charges twice, so this
        request is retried on transient failures like a read.

        Returns:
            :class:`JobCompletion` with the job's ``costs`` and its ``calls``.
        """
        call = complete_job_call(
            job_id, status=status, metadata=metadata, error_message=error_message
        )
        return await self._execute(call)

    # LLM calls

    async def chat(
        self,
        job_id: JobRef,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        *,
        purpose: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        call_metadata: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> ChatResult:
        """Make one LLM call within a job.

        Args:
            job_id: The job (its id, or the :class:`Job` itself).
            model: A model alias the team may use.
            messages: Chat messages in the OpenAI format.
            purpose: Label of the call, shown in the job's call list.
            params: Further body fields the API accepts; ``None`` values are not sent.

        Returns:
            :class:`ChatResult` with ``content``, ``finish_reason``, ``tool_calls`` and
            ``metadata`` (tokens, latency, model alias).

        Raises:
            ModelAccessDeniedError: The alias is unknown or not available to the team.
            JobClosedError: The job is already completed or failed.
            ProviderError: The provider failed (502) or timed out
                (:class:`ProviderTimeoutError`, 504). Not retried: the call may
                have been billed.
        """
        call = chat_call(
            job_id,
            model,
            messages,
            stream=False,
            purpose=purpose,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            stop=stop,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            call_metadata=call_metadata,
            params=params,
        )
        return await self._execute(call)

    def chat_stream(
        self,
        job_id: JobRef,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        *,
        purpose: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        response_format: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        call_metadata: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> AsyncChatStream:
        """Stream one LLM call within a job.

        Returns an :class:`AsyncChatStream`; iterate it to receive
        :class:`StreamChunk` items as the provider produces them, then one final
        :class:`StreamUsage` (``call_id``, ``usage``). The request is sent when
        iteration starts. Use it as ``async with`` to close the connection if you stop
        early (a stream cut off by the client is still billed for what it used)::

            async with client.chat_stream(job.job_id, "gpt-4o", messages) as stream:
                async for event in stream:
                    if isinstance(event, StreamChunk):
                        print(event.content, end="")
            print(stream.usage)

        Errors before the stream starts raise the same typed errors as :meth:`chat`;
        an error frame during the stream raises :class:`StreamError`.
        """
        call = chat_call(
            job_id,
            model,
            messages,
            stream=True,
            purpose=purpose,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            stop=stop,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            call_metadata=call_metadata,
            params=params,
        )
        return AsyncChatStream(self, call)

    async def structured_output(
        self,
        job_id: JobRef,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        *,
        response_model: type[ModelT],
        strict: bool = True,
        **params: Any,
    ) -> ModelT:
        """Ask for JSON matching a pydantic model and return a validated instance.

        Sends ``response_format={"type": "json_schema", "json_schema": {"name",
        "schema": response_model.model_json_schema(), "strict": strict}}``.

        Args:
            response_model: The pydantic model class the answer must match.
            strict: Ask the provider for strict schema adherence.
            params: Other :meth:`chat` arguments (``purpose``, ``temperature``, …).

        Raises:
            StructuredOutputError: The answer is empty or does not validate; it keeps
                the raw ``content`` and the ``call_id`` (the call is billed).
        """
        params["response_format"] = structured_response_format(
            response_model, strict=strict
        )
        result = await self.chat(job_id, model, messages, **params)
        return parse_structured(response_model, result)

    async def embed(
        self,
        job_id: JobRef,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        purpose: str | None = None,
        call_metadata: Mapping[str, Any] | None = None,
    ) -> EmbeddingResult:
        """Embed a text (or several) within a job, billed with the job.

        Args:
            job_id: The job (its id, or the :class:`Job` itself).
            model: An embedding model alias the team may use.
            input: A string, or a list of strings (one vector each, in order).
            dimensions: The vectors' size, for models that can shorten them.

        Returns:
            :class:`EmbeddingResult` with ``embeddings`` and ``metadata``.
        """
        call = embed_call(
            job_id,
            model,
            input,
            dimensions=dimensions,
            purpose=purpose,
            call_metadata=call_metadata,
        )
        return await self._execute(call)

    # The Responses API

    async def respond(
        self,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        *,
        instructions: str | None = None,
        previous_response_id: ResponseRef | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        store: bool | None = None,
        job_id: JobRef | None = None,
        **params: Any,
    ) -> Response:
        """Make one call through ``POST /v1/responses`` (OpenAI's Responses API).

        Without ``job_id`` the call is a job of its own, closed and charged at once
        (``response.credits.charged``); with it, the call joins that open job and is
        charged when the job is completed (``charged`` is 0).

        Args:
            model: A model alias the team may use.
            input: A string (one user message) or a list of input items
                (messages, ``function_call_output`` items, …).
            instructions: A system message for this turn (not kept in the history).
            previous_response_id: The response (or its id) this turn continues: the
                gateway puts that conversation before ``input``.
            tools: Function tools, in the Responses format
                (``{"type": "function", "name", "parameters", …}``).
            store: ``False`` keeps the response from being stored (it cannot then
                be read back or continued).
            job_id: An open job (its id, or the :class:`Job`), sent as ``X-Job-Id``.
            params: Further body fields (``text``, ``metadata``, ``top_p``,
                ``reasoning``, ``user``, …); ``None`` values are not sent.

        Returns:
            :class:`Response` with ``output_text``, ``output``, ``usage`` (tokens and
            ``credits``), and the ``call_id`` and ``job_id`` of the call.

        Raises:
            ModelAccessDeniedError: The alias is unknown or not available to the team.
            NotFoundError: ``previous_response_id`` is unknown or deleted, or the job
                is unknown.
            JobClosedError: The job is already completed or failed.
            ValidationError: A field the gateway refuses (``.errors`` names it).
            ProviderError: The provider failed. Not retried: the call may have
                been billed.
        """
        call = respond_call(
            model,
            input,
            stream=False,
            instructions=instructions,
            previous_response_id=previous_response_id,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            tools=tools,
            tool_choice=tool_choice,
            store=store,
            job_id=job_id,
            params=params,
        )
        return await self._execute(call)

    def respond_stream(
        self,
        model: str,
        input: str | Sequence[Mapping[str, Any]],
        *,
        instructions: str | None = None,
        previous_response_id: ResponseRef | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        store: bool | None = None,
        job_id: JobRef | None = None,
        **params: Any,
    ) -> AsyncResponseStream:
        """Stream one call through ``POST /v1/responses``.

        Returns an :class:`AsyncResponseStream`; iterate it to receive
        :class:`ResponseTextDelta` and :class:`ResponseFunctionCallArgumentsDelta`
        events as the provider produces them, other events as
        :class:`ResponseRawEvent`, and last one :class:`ResponseCompleted` with the
        whole :class:`Response` (usage and credits). The request is sent when
        iteration starts; use ``async with`` to close the connection if you stop
        early (a stream cut off by the client is still billed, and not stored)::

            async with client.respond_stream("gpt-4o", "Tell a story") as stream:
                async for event in stream:
                    if isinstance(event, ResponseTextDelta):
                        print(event.delta, end="")
            print(stream.response.usage)

        Arguments and errors before the stream starts are those of :meth:`respond`;
        a ``response.failed`` event (the provider failed) raises
        :class:`StreamError`.
        """
        call = respond_call(
            model,
            input,
            stream=True,
            instructions=instructions,
            previous_response_id=previous_response_id,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            tools=tools,
            tool_choice=tool_choice,
            store=store,
            job_id=job_id,
            params=params,
        )
        return AsyncResponseStream(self, call)

    async def get_response(self, response_id: ResponseRef) -> Response:
        """A stored response of the team (unknown, deleted or another team's: a
        :class:`NotFoundError`). ``call_id`` and ``job_id`` are not known here."""
        return await self._execute(get_response_call(response_id))

    async def delete_response(self, response_id: ResponseRef) -> ResponseDeleted:
        """Delete a stored response of the team; it, and the responses that
        continued it, can no longer be continued. Unknown: :class:`NotFoundError`."""
        return await self._execute(delete_response_call(response_id))

    # Credits

    async def get_balance(self) -> Balance:
        """The team's credit balance (``credits_remaining`` is what can be spent)."""
        return await self._execute(get_balance_call(self.team_id))

    async def get_key_info(self) -> KeyInfo:
        """The client's virtual key: its id, name, prefix, team, expiry and
        ``budget`` (``None`` when the key has no budget of its own; ``remaining``
        is what the key can still spend in the current period, ``resets_at`` when
        the next one starts). The key itself is never returned."""
        return await self._execute(get_key_info_call())

    # Transport

    async def _execute(self, call: Call[T]) -> T:
        return call.result(await self._send(call, stream=False))

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """Send with the retry policy; a returned response is 2xx."""
        retries = self._retries(call)
        while True:
            request = self._build_request(call, stream=stream)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = retries.after_exception(exc)
            else:
                if response.is_success:
                    return response
                try:
                    await response.aread()
                except httpx.TransportError:
                    pass  # the status is enough to classify the error
                finally:
                    await response.aclose()
                delay = retries.after_response(response)
            await anyio.sleep(delay)


class _AsyncEventStream(Generic[EventT]):
    """The reading of a streamed call (async), shared by the chat and the Responses
    streams: the request is sent when iteration starts; each line of the body goes
    to the stream's reader."""

    def __init__(
        self, client: SaasLiteLLMClient, call: Call[Any], state: EventReader[EventT]
    ) -> None:
        self._client = client
        self._call = call
        self._state = state
        self._response: httpx.Response | None = None
        self._iterator: AsyncGenerator[EventT, None] | None = None

    def __aiter__(self) -> AsyncIterator[EventT]:
        if self._iterator is not None:
            raise RuntimeError("A stream can be iterated only once")
        self._iterator = self._events()
        return self._iterator

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and close its connection."""
        if self._iterator is not None:
            await self._iterator.aclose()
        if self._response is not None:
            await self._response.aclose()

    async def _events(self) -> AsyncGenerator[EventT, None]:
        # Errors before the first byte are plain JSON responses: _send maps them.
        response = self._response = await self._client._send(self._call, stream=True)
        try:
            self._state.opened(response)
            async for line in response.aiter_lines():
                if (event := self._state.feed(line)) is not None:
                    yield event
                if self._state.done:
                    return
            if (event := self._state.feed("")) is not None:
                yield event
            self._state.check_done()
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        finally:
            await response.aclose()


class AsyncChatStream(ChatStreamBase, _AsyncEventStream[StreamEvent]):
    """A streamed LLM call: an async iterator of :class:`StreamEvent`.

    After iteration, :attr:`content`, :attr:`finish_reason`, :attr:`call_id` and
    :attr:`usage` hold the assembled answer. A stream can be iterated once.
    """

    def __init__(self, client: SaasLiteLLMClient, call: Call[Any]) -> None:
        super().__init__(client, call, StreamState())


class AsyncResponseStream(ResponseStreamBase, _AsyncEventStream[ResponseStreamEvent]):
    """A streamed ``POST /v1/responses``: an async iterator of
    :class:`ResponseStreamEvent`.

    :attr:`output_text` grows with the text deltas; after the last event,
    :attr:`response` is the final :class:`Response` (with ``usage`` and
    ``credits``). :attr:`call_id` and :attr:`job_id` are known once the stream has
    started. A stream can be iterated once.
    """

    def __init__(self, client: SaasLiteLLMClient, call: Call[Any]) -> None:
        super().__init__(client, call, ResponseStreamState())
