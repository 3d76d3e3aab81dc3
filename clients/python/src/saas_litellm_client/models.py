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
    "Job",
    "JobCompletion",
    "JobCosts",
    "JobDetails",
    "JobRef",
    "JobStatus",
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


JobRef = str | uuid.UUID | Job | JobDetails
"""What the client accepts as a job: its id (string or UUID) or the job itself."""
