"""The async client, :class:`SaasLiteLLMClient`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
import pydantic

from ._base import ClientBase, transport_error
from ._calls import (
    Call,
    chat_call,
    complete_job_call,
    create_job_call,
    embed_call,
    get_balance_call,
    get_job_call,
    parse_structured,
    structured_response_format,
)
from ._stream import ChatStreamBase, check_stream_response
from .models import (
    Balance,
    ChatMessage,
    ChatResult,
    EmbeddingResult,
    Job,
    JobCompletion,
    JobDetails,
    JobRef,
    StreamEvent,
)

__all__ = ["AsyncChatStream", "SaasLiteLLMClient"]

T = TypeVar("T")
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

    # Credits

    async def get_balance(self) -> Balance:
        """The team's credit balance (``credits_remaining`` is what can be spent)."""
        return await self._execute(get_balance_call(self.team_id))

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


class AsyncChatStream(ChatStreamBase):
    """A streamed LLM call: an async iterator of :class:`StreamEvent`.

    After iteration, :attr:`content`, :attr:`finish_reason`, :attr:`call_id` and
    :attr:`usage` hold the assembled answer. A stream can be iterated once.
    """

    def __init__(self, client: SaasLiteLLMClient, call: Call[Any]) -> None:
        super().__init__(call)
        self._client = client
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is not None:
            raise RuntimeError("A chat stream can be iterated only once")
        self._iterator = self._events()
        return self._iterator

    async def __aenter__(self) -> AsyncChatStream:
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

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        # Errors before the first byte are plain JSON responses: _send maps them.
        response = self._response = await self._client._send(self._call, stream=True)
        try:
            check_stream_response(response)
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
