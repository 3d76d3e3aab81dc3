"""Typed Python client of the SaaS LiteLLM team API.

:class:`SaasLiteLLMClient` is the async client, :class:`SaasLiteLLMSyncClient` the
blocking one for scripts; both return the pydantic models of
:mod:`saas_litellm_client.models` and raise the errors of
:mod:`saas_litellm_client.errors`.
"""

from __future__ import annotations

from ._base import DEFAULT_TIMEOUT, RetryPolicy
from ._version import __version__
from .client import AsyncChatStream, SaasLiteLLMClient
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    InsufficientCreditsError,
    JobClosedError,
    ModelAccessDeniedError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    SaasLiteLLMError,
    ServerError,
    StreamError,
    StructuredOutputError,
    TeamMismatchError,
    TeamPausedError,
    TeamSuspendedError,
    UnexpectedResponseError,
    ValidationError,
)
from .models import (
    Balance,
    CallMetadata,
    CallSummary,
    ChatMessage,
    ChatResult,
    EmbeddingResult,
    Job,
    JobCompletion,
    JobCosts,
    JobDetails,
    JobRef,
    JobStatus,
    StreamChunk,
    StreamEvent,
    StreamUsage,
    ToolCall,
    ToolCallFunction,
    Usage,
)
from .sync import ChatStream, SaasLiteLLMSyncClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APITimeoutError",
    "AsyncChatStream",
    "AuthenticationError",
    "Balance",
    "CallMetadata",
    "CallSummary",
    "ChatMessage",
    "ChatResult",
    "ChatStream",
    "ConflictError",
    "EmbeddingResult",
    "InsufficientCreditsError",
    "Job",
    "JobClosedError",
    "JobCompletion",
    "JobCosts",
    "JobDetails",
    "JobRef",
    "JobStatus",
    "ModelAccessDeniedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RetryPolicy",
    "SaasLiteLLMClient",
    "SaasLiteLLMError",
    "SaasLiteLLMSyncClient",
    "ServerError",
    "StreamChunk",
    "StreamError",
    "StreamEvent",
    "StreamUsage",
    "StructuredOutputError",
    "TeamMismatchError",
    "TeamPausedError",
    "TeamSuspendedError",
    "ToolCall",
    "ToolCallFunction",
    "UnexpectedResponseError",
    "Usage",
    "ValidationError",
    "__version__",
]
