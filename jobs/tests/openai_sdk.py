"""Helpers of the /v1 tests: the project's ASGI app under uvicorn, and SDK clients.

The /v1 endpoints are async views whose streams only an ASGI server sends as they
come, so the official `openai` package is pointed at a real uvicorn server running in
a thread of the test process.
"""

from __future__ import annotations

from typing import Any

import openai

from jobs.tests.live import asgi_served

__all__ = ["asgi_served", "async_sdk", "hello", "sdk"]


def sdk(server: str, key: str, **options: Any) -> openai.OpenAI:
    """The official client as a team configures it: base_url …/v1, the virtual key."""
    return openai.OpenAI(
        base_url=f"{server}/v1", api_key=key, max_retries=0, timeout=20, **options
    )


def async_sdk(server: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{server}/v1", api_key=key, max_retries=0, timeout=20
    )


def hello(**overrides: Any) -> dict[str, Any]:
    """create() arguments of a one-message chat with the `chat` alias."""
    return {
        "model": "chat",
        "messages": [{"role": "user", "content": "hello world"}],
        **overrides,
    }
