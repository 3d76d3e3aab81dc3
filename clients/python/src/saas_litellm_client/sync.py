"""The blocking client for scripts, :class:`SaasLiteLLMSyncClient`.

It is a real ``httpx.Client`` implementation (no event loop per call) and shares
request building, retry policy and parsing with the async client.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

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

__all__ = ["ChatStream", "ResponseStream", "SaasLiteLLMSyncClient"]

T = TypeVar("T")
EventT = TypeVar("EventT")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class SaasLiteLLMSyncClient(ClientBase[httpx.Client]):
    """Blocking client of the SaaS LiteLLM team API, for scripts.

    Same methods, arguments, results and errors as :class:`SaasLiteLLMClient`,
    without ``await``::

        with SaasLiteLLMSyncClient(
            base_url="http://localhost:8003",
            team_id="acme-corp",
            virtual_key="sk-...",
        ) as client:
            job = client.create_job("document_analysis")
            print(client.chat(job.job_id, "gpt-4o", messages).content)
            client.complete_job(job.job_id)

    Args are those of :class:`SaasLiteLLMClient`; ``http_client`` is an
    ``httpx.Client`` that the caller keeps ownership of.
    """

    def _new_http_client(self) -> httpx.Client:
        return httpx.Client()

    def __enter__(self) -> SaasLiteLLMSyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (only if the client created its own httpx client)."""
        if self._owns_http:
            self._http.close()

    def create_job(
        self,
        job_type: str,
        *,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Job:
        """Create a job; see :meth:`SaasLiteLLMClient.create_job`."""
        call = create_job_call(
            self.team_id, job_type, user_id=user_id, metadata=metadata
        )
        return self._execute(call)

    def get_job(self, job_id: JobRef) -> JobDetails:
        """Fetch a job of the team; see :meth:`SaasLiteLLMClient.get_job`."""
        return self._execute(get_job_call(job_id))

    def complete_job(
        self,
        job_id: JobRef,
        status: str = "completed",
        *,
        metadata: Mapping[str, Any] | None = None,
        error_message: str | None = None,
    ) -> JobCompletion:
        """Close and charge a job; see :meth:`SaasLiteLLMClient.complete_job`."""
        call = complete_job_call(
            job_id, status=status, metadata=metadata, error_message=error_message
        )
        return self._execute(call)

    def chat(
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
        """Make one LLM call within a job; see :meth:`SaasLiteLLMClient.chat`."""
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
        return self._execute(call)

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
    ) -> ChatStream:
        """Stream one LLM call; iterate the returned :class:`ChatStream`.

        See :meth:`SaasLiteLLMClient.chat_stream`; use ``with`` to close early.
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
        return ChatStream(self, call)

    def structured_output(
        self,
        job_id: JobRef,
        model: str,
        messages: Sequence[ChatMessage | Mapping[str, Any]],
        *,
        response_model: type[ModelT],
        strict: bool = True,
        **params: Any,
    ) -> ModelT:
        """A validated ``response_model`` instance; see
        :meth:`SaasLiteLLMClient.structured_output`."""
        params["response_format"] = structured_response_format(
            response_model, strict=strict
        )
        result = self.chat(job_id, model, messages, **params)
        return parse_structured(response_model, result)

    def embed(
        self,
        job_id: JobRef,
        model: str,
        input: str | Sequence[str],
        *,
        dimensions: int | None = None,
        purpose: str | None = None,
        call_metadata: Mapping[str, Any] | None = None,
    ) -> EmbeddingResult:
        """Embed within a job; see :meth:`SaasLiteLLMClient.embed`."""
        call = embed_call(
            job_id,
            model,
            input,
            dimensions=dimensions,
            purpose=purpose,
            call_metadata=call_metadata,
        )
        return self._execute(call)

    def respond(
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
        """One call through ``POST /v1/responses``; see
        :meth:`SaasLiteLLMClient.respond`."""
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
        return self._execute(call)

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
    ) -> ResponseStream:
        """Stream one call through ``POST /v1/responses``; iterate the returned
        :class:`ResponseStream`. See :meth:`SaasLiteLLMClient.respond_stream`; use
        ``with`` to close early."""
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
        return ResponseStream(self, call)

    def get_response(self, response_id: ResponseRef) -> Response:
        """A stored response; see :meth:`SaasLiteLLMClient.get_response`."""
        return self._execute(get_response_call(response_id))

    def delete_response(self, response_id: ResponseRef) -> ResponseDeleted:
        """Delete a stored response; see :meth:`SaasLiteLLMClient.delete_response`."""
        return self._execute(delete_response_call(response_id))

    def get_balance(self) -> Balance:
        """The team's credit balance; see :meth:`SaasLiteLLMClient.get_balance`."""
        return self._execute(get_balance_call(self.team_id))

    def get_key_info(self) -> KeyInfo:
        """The client's virtual key and its budget; see
        :meth:`SaasLiteLLMClient.get_key_info`."""
        return self._execute(get_key_info_call())

    def _execute(self, call: Call[T]) -> T:
        return call.result(self._send(call, stream=False))

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """Send with the retry policy; a returned response is 2xx."""
        retries = self._retries(call)
        while True:
            request = self._build_request(call, stream=stream)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = retries.after_exception(exc)
            else:
                if response.is_success:
                    return response
                try:
                    response.read()
                except httpx.TransportError:
                    pass  # the status is enough to classify the error
                finally:
                    response.close()
                delay = retries.after_response(response)
            time.sleep(delay)


class _EventStream(Generic[EventT]):
    """The reading of a streamed call (blocking), shared by the chat and the
    Responses streams; see the async client's ``_AsyncEventStream``."""

    def __init__(
        self,
        client: SaasLiteLLMSyncClient,
        call: Call[Any],
        state: EventReader[EventT],
    ) -> None:
        self._client = client
        self._call = call
        self._state = state
        self._response: httpx.Response | None = None
        self._iterator: Generator[EventT, None, None] | None = None

    def __iter__(self) -> Iterator[EventT]:
        if self._iterator is not None:
            raise RuntimeError("A stream can be iterated only once")
        self._iterator = self._events()
        return self._iterator

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the stream and close its connection."""
        if self._iterator is not None:
            self._iterator.close()
        if self._response is not None:
            self._response.close()

    def _events(self) -> Generator[EventT, None, None]:
        response = self._response = self._client._send(self._call, stream=True)
        try:
            self._state.opened(response)
            for line in response.iter_lines():
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
            response.close()


class ChatStream(ChatStreamBase, _EventStream[StreamEvent]):
    """A streamed LLM call: an iterator of :class:`StreamEvent` (blocking).

    After iteration, :attr:`content`, :attr:`finish_reason`, :attr:`call_id` and
    :attr:`usage` hold the assembled answer. A stream can be iterated once.
    """

    def __init__(self, client: SaasLiteLLMSyncClient, call: Call[Any]) -> None:
        super().__init__(client, call, StreamState())


class ResponseStream(ResponseStreamBase, _EventStream[ResponseStreamEvent]):
    """A streamed ``POST /v1/responses``: an iterator of
    :class:`ResponseStreamEvent` (blocking); see :class:`AsyncResponseStream`.
    """

    def __init__(self, client: SaasLiteLLMSyncClient, call: Call[Any]) -> None:
        super().__init__(client, call, ResponseStreamState())
