"""The blocking client for scripts, :class:`SaasLiteLLMSyncClient`.

It is a real ``httpx.Client`` implementation (no event loop per call) and shares
request building, retry policy and parsing with the async client.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
import pydantic

from ._base import (
    DEFAULT_TIMEOUT,
    STREAM_CUT,
    Call,
    ClientCore,
    SSEDecoder,
    StreamState,
    chat_params,
    check_stream_response,
    decode_json,
    parse_structured,
    structured_response_format,
    transport_error,
)
from .errors import APIConnectionError, error_from_response
from .models import (
    Balance,
    ChatMessage,
    ChatResult,
    Job,
    JobCompletion,
    JobDetails,
    JobRef,
    StreamEvent,
    StreamUsage,
)

__all__ = ["ChatStream", "SaasLiteLLMSyncClient"]

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)


class SaasLiteLLMSyncClient:
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

    def __init__(
        self,
        base_url: str,
        team_id: str,
        virtual_key: str,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        retry_backoff: float = 0.5,
        retry_backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._core = ClientCore(
            base_url,
            team_id,
            virtual_key,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            max_retry_after=max_retry_after,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()

    @property
    def base_url(self) -> str:
        """The server root the client talks to."""
        return self._core.base_url

    @property
    def team_id(self) -> str:
        """The team this client acts for."""
        return self._core.team_id

    def __repr__(self) -> str:
        return repr(self._core).replace("ClientCore", type(self).__name__)

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
        call = self._core.create_job_call(job_type, user_id=user_id, metadata=metadata)
        return self._execute(call)

    def get_job(self, job_id: JobRef) -> JobDetails:
        """Fetch a job of the team; see :meth:`SaasLiteLLMClient.get_job`."""
        return self._execute(self._core.get_job_call(job_id))

    def complete_job(
        self,
        job_id: JobRef,
        status: str = "completed",
        *,
        metadata: Mapping[str, Any] | None = None,
        error_message: str | None = None,
    ) -> JobCompletion:
        """Close and charge a job; see :meth:`SaasLiteLLMClient.complete_job`."""
        call = self._core.complete_job_call(
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
        extra = chat_params(
            purpose=purpose,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            stop=stop,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            call_metadata=call_metadata,
            extra=params,
        )
        call = self._core.chat_call(job_id, model, messages, extra, stream=False)
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
        extra = chat_params(
            purpose=purpose,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            stop=stop,
            response_format=response_format,
            tools=tools,
            tool_choice=tool_choice,
            call_metadata=call_metadata,
            extra=params,
        )
        call = self._core.chat_call(job_id, model, messages, extra, stream=True)
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

    def get_balance(self) -> Balance:
        """The team's credit balance; see :meth:`SaasLiteLLMClient.get_balance`."""
        return self._execute(self._core.get_balance_call())

    def _execute(self, call: Call[T]) -> T:
        response = self._send(call, stream=False)
        return call.parse(decode_json(response))

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        """Send with the retry policy; a returned response is 2xx."""
        attempt = 0
        while True:
            request = self._core.build_request(self._http, call, stream=stream)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self._core.retry.delay_after_exception(
                    exc, attempt=attempt, idempotent=call.idempotent
                )
                if delay is None:
                    raise transport_error(exc) from exc
            else:
                if response.is_success:
                    return response
                try:
                    response.read()
                except httpx.TransportError:
                    pass  # the status is enough to classify the error
                finally:
                    response.close()
                error = error_from_response(response)
                delay = self._core.retry.delay_after_error(
                    error, attempt=attempt, idempotent=call.idempotent
                )
                if delay is None:
                    raise error
            attempt += 1
            time.sleep(delay)


class ChatStream:
    """A streamed LLM call: an iterator of :class:`StreamEvent` (blocking).

    After iteration, :attr:`content`, :attr:`finish_reason`, :attr:`call_id` and
    :attr:`usage` hold the assembled answer. A stream can be iterated once.
    """

    def __init__(self, client: SaasLiteLLMSyncClient, call: Call[Any]) -> None:
        self._client = client
        self._call = call
        self._state = StreamState()
        self._response: httpx.Response | None = None
        self._iterator: Generator[StreamEvent, None, None] | None = None

    @property
    def content(self) -> str:
        """The text received so far."""
        return "".join(self._state.content_parts)

    @property
    def finish_reason(self) -> str | None:
        """Why the answer ended, once known."""
        return self._state.finish_reason

    @property
    def call_id(self) -> str | None:
        """The call's id, known when the final usage item has arrived."""
        return self._state.call_id

    @property
    def usage(self) -> StreamUsage | None:
        """The final usage item, once received."""
        return self._state.usage

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._iterator is not None:
            raise RuntimeError("A chat stream can be iterated only once")
        self._iterator = self._events()
        return self._iterator

    def __enter__(self) -> ChatStream:
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

    def _events(self) -> Generator[StreamEvent, None, None]:
        response = self._client._send(self._call, stream=True)
        self._response = response
        try:
            check_stream_response(response)
            decoder = SSEDecoder()
            for line in response.iter_lines():
                data = decoder.feed(line)
                if data is None:
                    continue
                event = self._state.handle(data)
                if event is None:
                    return
                yield event
            data = decoder.flush()
            if data is not None:
                event = self._state.handle(data)
                if event is None:
                    return
                yield event
            raise APIConnectionError(STREAM_CUT)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        finally:
            response.close()
