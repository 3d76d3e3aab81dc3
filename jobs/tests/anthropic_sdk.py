"""Helpers of the Anthropic Messages tests: the official `anthropic` client pointed at
the project's ASGI app under uvicorn (see jobs/tests/openai_sdk.py)."""

from __future__ import annotations

import time
from typing import Any

import anthropic

from jobs.models import CallStatus, LLMCall
from jobs.tests.live import asgi_served

__all__ = ["asgi_served", "call_recorded", "hello", "sdk"]


def sdk(server: str, key: str, **options: Any) -> anthropic.Anthropic:
    """The client as Claude Code configures it: the server's root as base URL, the
    virtual key as the API key (`x-api-key`) or, with auth_token=…, as a Bearer."""
    if "auth_token" not in options:
        options["api_key"] = key
    return anthropic.Anthropic(base_url=server, max_retries=0, timeout=20, **options)


def hello(**overrides: Any) -> dict[str, Any]:
    """messages.create() arguments of a one-message conversation with `chat`."""
    return {
        "model": "chat",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello world"}],
        **overrides,
    }


def call_recorded(seconds: float = 10) -> LLMCall:
    """The one call, once its outcome is recorded (a cut stream records it after
    the client has gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        call = LLMCall.objects.select_related("job").first()
        done = call is not None and call.status != CallStatus.IN_PROGRESS
        if done and call.job.status != "in_progress":
            return call
        time.sleep(0.05)
    raise AssertionError("the call was never recorded")
