"""What the garbage collector runs sets no contextvar (see jobs.gateway: before
Python 3.12 a contextvar set by a finalizer during a collection that started inside
another ContextVar.set frees the context's mapping under it)."""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

from jobs.gateway import CustomStreamWrapper, litellm

WRITES = ("ContextVar.set", "ContextVar.reset")


def contextvar_writes_in_a_collection() -> list[str]:
    """Where code run by a full collection (finalizers, weakref callbacks) set or
    reset a contextvar."""
    writes: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__qualname__", "") in WRITES:
            writes.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")

    def watch(phase: str, info: dict[str, Any]) -> None:
        sys.setprofile(profile if phase == "start" else None)

    gc.callbacks.append(watch)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(watch)
        sys.setprofile(None)
    return writes


def test_an_abandoned_litellm_stream_is_collected_without_setting_a_contextvar():
    stream = litellm.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "hello"}],
        mock_response="hello world",
        stream=True,
    )
    assert isinstance(stream, CustomStreamWrapper)
    stream.cycle = stream  # abandoned in a cycle: only the collector frees it
    collected = weakref.ref(stream)
    del stream
    assert contextvar_writes_in_a_collection() == []
    assert collected() is None
