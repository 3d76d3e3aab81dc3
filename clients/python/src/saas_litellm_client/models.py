"""Typed results returned by the client (pydantic v2 models).

Models accept and keep fields the server adds later (``extra="allow"``), so a newer
server never breaks an older client; only the documented fields are typed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Balance",
    "CallMetadata",
    "CallSummary",
    "ChatMessage",
    "ChatResult",
    "Credits",
    "InputTokensDetails",
    "Job",
    "JobCompletion",
    "JobCosts",
    "JobDetails",
    "JobRef",
    "JobStatus",
    "KeyBudget",
    "KeyInfo",
    "OutputTokensDetails",
    "Response",
    "ResponseCompleted",
    "ResponseDeleted",
    "ResponseFunctionCall",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseRawEvent",
    "ResponseRef",
    "ResponseStreamEvent",
    "ResponseTextDelta",
    "ResponseUsage",
    "StreamChunk",
    "StreamEvent",
    "StreamUsage",
    "ToolCall",
    "ToolCallFunction",
    "Usage",
]

JobStatus = Literal["pending", "in_progress", "completed", "failed", "cancelled"]
"""The job status values the API returns (always lowercase)."""


class ChatMessage(TypedDict, total=False):
    """One chat message, as in the OpenAI chat format: ``{"role", "content", …}``."""

    role: str
    content: Any
    name: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Job(_Model):
    """A job as created by :meth:`SaasLiteLLMClient.create_job`."""

    job_id: str
    status: JobStatus
    created_at: datetime


class JobDetails(_Model):
    """A job as returned by :meth:`SaasLiteLLMClient.get_job`.

    Fields the server does not send are ``None``; extra fields are kept.
    """

    job_id: str
    status: JobStatus
    created_at: datetime | None = None
    team_id: str | None = None
    job_type: str | None = None
    user_id: str | None = None
    metadata: dict[str, Any] | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = None
    credits_charged: int | None = None


class ToolCallFunction(_Model):
    """The function a tool call invokes; ``arguments`` is a JSON string."""

    name: str
    arguments: str = ""


class ToolCall(_Model):
    """A tool call requested by the model."""

    id: str | None = None
    type: str = "function"
    function: ToolCallFunction


class CallMetadata(_Model):
    """Usage and timing of one LLM call. ``model`` is the alias the team asked for."""

    tokens_used: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int | None = None
    model: str | None = None


class ChatResult(_Model):
    """The result of :meth:`SaasLiteLLMClient.chat`."""

    call_id: str
    content: str | None = None
    finish_reason: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    metadata: CallMetadata = Field(default_factory=CallMetadata)

    @property
    def usage(self) -> CallMetadata:
        """Alias of :attr:`metadata` (tokens used, latency, model alias)."""
        return self.metadata


class EmbeddingResult(_Model):
    """The result of :meth:`SaasLiteLLMClient.embed`: one vector per input."""

    call_id: str
    embeddings: list[list[float]]
    metadata: CallMetadata = Field(default_factory=CallMetadata)


class Usage(_Model):
    """Token usage reported at the end of a stream."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class StreamChunk(_Model):
    """One piece of a streamed answer.

    Attributes:
        content: The text added by this chunk (``""`` when it adds none).
        finish_reason: Set on the chunk that ends the answer.
        tool_calls: Raw tool-call deltas (OpenAI format), if the model calls tools.
        raw: The whole ``chat.completion.chunk`` object as sent by the server.
    """

    content: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    model: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class StreamUsage(_Model):
    """The last item of a stream: the call id and the tokens it used."""

    call_id: str | None = None
    usage: Usage = Field(default_factory=Usage)


StreamEvent = StreamChunk | StreamUsage
"""What iterating over a chat stream yields."""


class JobCosts(_Model):
    """What a job cost, as returned by :meth:`SaasLiteLLMClient.complete_job`."""

    total_calls: int = 0
    successful_calls: int = 0
    failed_calls: int = 0
    total_tokens: int = 0
    credits_charged: int = 0
    credit_applied: bool = False
    credits_remaining: int | None = None
    avg_latency_ms: float | None = None


class CallSummary(_Model):
    """One LLM call of a completed job."""

    call_id: str
    purpose: str | None = None
    model: str | None = None
    status: str | None = None
    tokens: int | None = None
    latency_ms: int | None = None
    error: str | None = None


class JobCompletion(_Model):
    """The result of :meth:`SaasLiteLLMClient.complete_job`."""

    job_id: str
    status: JobStatus
    completed_at: datetime | None = None
    costs: JobCosts = Field(default_factory=JobCosts)
    calls: list[CallSummary] = Field(default_factory=list)


class Balance(_Model):
    """A team's credit balance; ``credits_remaining`` is what can still be spent."""

    team_id: str
    credits_allocated: int
    credits_used: int
    credits_reserved: int = 0
    credits_remaining: int
    budget_mode: str | None = None


class KeyBudget(_Model):
    """The budget of a key inside its team, in its current period.

    Attributes:
        credits: The limit per period (``None``: no limit).
        period: ``"day"``, ``"week"`` or ``"month"`` (calendar periods in the team's
            time zone), or ``None`` for one limit for all time.
        spent: Credits charged in the current period.
        remaining: Credits neither charged nor held for running work (``None``: no
            limit).
        resets_at: When the next period starts (``None``: no period).
    """

    credits: int | None = None
    period: str | None = None
    spent: int = 0
    remaining: int | None = None
    resets_at: datetime | None = None


class KeyInfo(_Model):
    """The calling virtual key, as returned by :meth:`SaasLiteLLMClient.get_key_info`
    (never the key itself); ``budget`` is ``None`` when the key has no budget."""

    key_id: str
    name: str
    key_prefix: str
    team_id: str
    expires_at: datetime | None = None
    budget: KeyBudget | None = None


JobRef = str | uuid.UUID | Job | JobDetails
"""What the client accepts as a job: its id (string or UUID) or the job itself."""


# The Responses API (/v1/responses)


class Credits(_Model):
    """What a call cost and what the team has left (``usage.credits``).

    ``charged`` is 0 for a call on an open job: the job is charged when completed.
    """

    charged: int = 0
    remaining: int | None = None


class InputTokensDetails(_Model):
    """Details of a response's input tokens."""

    cached_tokens: int = 0


class OutputTokensDetails(_Model):
    """Details of a response's output tokens."""

    reasoning_tokens: int = 0


class ResponseUsage(_Model):
    """The tokens a response used, and its :class:`Credits`."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens_details: OutputTokensDetails = Field(
        default_factory=OutputTokensDetails
    )
    credits: Credits | None = None

    @property
    def cached_tokens(self) -> int:
        """Input tokens read from the provider's prompt cache."""
        return self.input_tokens_details.cached_tokens

    @property
    def reasoning_tokens(self) -> int:
        """Output tokens the model spent reasoning."""
        return self.output_tokens_details.reasoning_tokens


class ResponseFunctionCall(_Model):
    """A ``function_call`` output item: the model asks to run a function tool.

    Answer it with a ``{"type": "function_call_output", "call_id", "output"}`` input
    item in the next turn. ``arguments`` is a JSON string.
    """

    call_id: str
    name: str
    arguments: str = ""
    id: str | None = None
    status: str | None = None


class Response(_Model):
    """A response of :meth:`SaasLiteLLMClient.respond` (OpenAI's Responses shape).

    Attributes:
        id: The response's id (``resp_…``), for ``previous_response_id``,
            :meth:`~SaasLiteLLMClient.get_response` and
            :meth:`~SaasLiteLLMClient.delete_response`.
        status: ``completed``, ``incomplete`` (see ``incomplete_details``), ``failed``.
        model: The model alias the team asked for.
        output: The output items as sent (``message``, ``function_call`` dicts).
        usage: Tokens and :class:`Credits`.
        call_id: The LLM call (``X-Call-Id``); ``None`` on a stored response read
            back with ``get_response``.
        job_id: The job the call belongs to (``X-Job-Id``); ``None`` likewise.

    Fields the request repeats (``tools``, ``temperature``, ``metadata``, …) are
    kept as extra fields.
    """

    id: str
    object: str = "response"
    status: str
    model: str
    created_at: datetime | None = None
    output: list[dict[str, Any]] = Field(default_factory=list)
    usage: ResponseUsage | None = None
    previous_response_id: str | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    call_id: str | None = None
    job_id: str | None = None

    @property
    def output_text(self) -> str:
        """The text of the output messages, joined (``""`` when there is none)."""
        return "".join(
            part.get("text") or ""
            for item in self.output
            if item.get("type") == "message"
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "output_text"
        )

    @property
    def function_calls(self) -> list[ResponseFunctionCall]:
        """The function tool calls among the output items, in order."""
        return [
            ResponseFunctionCall.model_validate(item)
            for item in self.output
            if item.get("type") == "function_call"
        ]

    @property
    def credits(self) -> Credits | None:
        """What the call cost and what is left (``usage.credits``)."""
        return self.usage.credits if self.usage is not None else None


ResponseRef = str | Response
"""What the client accepts as a response: its id or the :class:`Response` itself."""


class ResponseDeleted(_Model):
    """The answer of :meth:`SaasLiteLLMClient.delete_response`."""

    id: str
    object: str = "response"
    deleted: bool = True


class ResponseTextDelta(_Model):
    """``response.output_text.delta``: a piece of the answer's text."""

    type: Literal["response.output_text.delta"] = "response.output_text.delta"
    delta: str = ""
    item_id: str | None = None
    output_index: int = 0
    content_index: int = 0
    sequence_number: int | None = None


class ResponseFunctionCallArgumentsDelta(_Model):
    """``response.function_call_arguments.delta``: a piece of a function call's
    ``arguments``; the call itself is announced by ``response.output_item.added``."""

    type: Literal["response.function_call_arguments.delta"] = (
        "response.function_call_arguments.delta"
    )
    delta: str = ""
    item_id: str | None = None
    output_index: int = 0
    sequence_number: int | None = None


class ResponseCompleted(_Model):
    """The last event of a Responses stream: the whole :class:`Response`, with its
    usage and credits. ``type`` is ``response.completed``, or
    ``response.incomplete`` when the answer was cut (e.g. by ``max_output_tokens``).
    """

    type: str = "response.completed"
    response: Response
    sequence_number: int | None = None

    @property
    def usage(self) -> ResponseUsage | None:
        """The response's usage."""
        return self.response.usage

    @property
    def credits(self) -> Credits | None:
        """What the call cost and what is left."""
        return self.response.credits


class ResponseRawEvent(_Model):
    """Any other event of a Responses stream (``response.created``,
    ``response.output_item.added``, …): its ``type`` and the whole event as
    ``data``."""

    type: str
    sequence_number: int | None = None
    data: dict[str, Any] = Field(default_factory=dict, repr=False)


ResponseStreamEvent = (
    ResponseTextDelta
    | ResponseFunctionCallArgumentsDelta
    | ResponseCompleted
    | ResponseRawEvent
)
"""What iterating over a Responses stream yields."""
