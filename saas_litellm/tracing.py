"""OpenTelemetry tracing, off unless TRACING=true.

On, each process exports its spans (OTLP over HTTP to the collector that the standard
OTEL_EXPORTER_OTLP_* variables name, or `TRACING_EXPORTER=console` for standard
output) and the OpenTelemetry instrumentations add theirs: a span per request
(Django), per SQL statement (psycopg: the statement's text, never its values) and per
provider request (aiohttp on the fast path, httpx through litellm). The call
pipeline adds `llm.admit`, `llm.provider` and `llm.settle` (jobs/pipeline.py) with
the team, the alias and the outcome as attributes. Nothing secret goes into a span:
keys travel in headers, which no instrumentation records, and prompts are not
attributes.

Off, `span` is OpenTelemetry's no-op tracer: a few microseconds per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from opentelemetry import trace

tracer = trace.get_tracer("saas_litellm")


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """A span around the block, a child of the current one (the request's)."""
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def tracing_setup() -> None:
    """Once per process, before the first request (AppConfig.ready): the tracer
    provider and the instrumentations, when TRACING is on. (The batch exporter's
    thread is restarted in each forked worker by the SDK itself.)"""
    if not settings.TRACING:
        return
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    exporter: SpanExporter
    if settings.TRACING_EXPORTER == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    resource = Resource.create({"service.name": settings.TRACING_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    HTTPXClientInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()


def tracing_flush() -> None:
    """Export the spans still queued (a worker about to exit)."""
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush()
