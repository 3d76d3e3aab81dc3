"""Prometheus metrics: every definition, the one-line recorders, and GET /metrics.

Other modules record with one call each: the middleware (HTTP requests, refusals),
the pipeline (LLM calls, time to first token, open streams), jobs.routing (the
catalogue cache). Families are prefixed `saas_litellm_` (API.md).

Labels are bounded: routes are URL patterns, never raw paths; aliases are the
operator's catalogue; a team is its public slug, and each process labels at most
METRICS_MAX_TEAMS teams, the rest as `other`. No request id, key or prompt.

Under gunicorn (gunicorn.conf.py) PROMETHEUS_MULTIPROC_DIR is set before anything
imports prometheus_client, so every worker writes its values to files there and a
scrape, whichever worker answers it, sums them all (`llm_streams_open` counts the
live workers only). Without it (tests, runserver) the process's own registry is
served. The database pool is read when scraped, from the answering worker.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.django import PrometheusDjangoView
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from rest_framework.exceptions import AuthenticationFailed

from saas_litellm.exceptions import (
    Dialect,
    MethodRefused,
    Unauthenticated,
    error_response,
)
from saas_litellm.request_context import request_context, route_of
from teams.authentication import ADMIN_AUTH_FAILED, AdminKeyAuthentication
from teams.keys import admin_key_matches

if TYPE_CHECKING:
    from jobs.services import CallOutcome

NAMESPACE = "saas_litellm"
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Statuses that refuse a request without doing any work (API.md: they write nothing).
REFUSAL_STATUSES = {401, 403, 429}
PROVIDER_FAILURES = {"provider_error", "provider_timeout", "provider_rejected_request"}
LLM_SECONDS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by URL pattern, method and status.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request (a stream: until its last byte), by URL pattern.",
    ["route", "method"],
    namespace=NAMESPACE,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
LLM_CALLS = Counter(
    "llm_calls",
    "LLM calls recorded, by alias, endpoint (URL pattern) and outcome: succeeded, "
    "client_disconnected, cancelled or the provider failure's code.",
    ["alias", "endpoint", "outcome"],
    namespace=NAMESPACE,
)
PROVIDER_LATENCY = Histogram(
    "provider_latency_seconds",
    "Time the provider took to answer a call (a stream: to its end), by alias.",
    ["alias"],
    namespace=NAMESPACE,
    buckets=LLM_SECONDS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "time_to_first_token_seconds",
    "Time from a stream's request to the provider until its first answer, by alias.",
    ["alias"],
    namespace=NAMESPACE,
    buckets=(0.05, *LLM_SECONDS),
)
TOKENS = Counter(
    "tokens",
    "Tokens of recorded calls, by team and kind (prompt, completion).",
    ["team", "kind"],
    namespace=NAMESPACE,
)
CREDITS_CHARGED = Counter(
    "credits_charged",
    "Credits charged to jobs, by team (counted when the charge commits).",
    ["team"],
    namespace=NAMESPACE,
)
REFUSALS = Counter(
    "refusals",
    "Requests refused with 401, 403 or 429, by error code (rate_limited, "
    "insufficient_credits, team_suspended, model_access_denied, invalid_api_key…).",
    ["reason"],
    namespace=NAMESPACE,
)
STREAMS_OPEN = Gauge(
    "streams_open",
    "LLM streams being relayed now.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
DEPLOYMENT_ATTEMPTS = Counter(
    "deployment_attempts",
    "Requests sent to a deployment of an alias (deployment: its position), by "
    "outcome (ok, failed).",
    ["alias", "deployment", "outcome"],
    namespace=NAMESPACE,
)
DEPLOYMENT_COOLDOWNS = Counter(
    "deployment_cooldowns",
    "Times a deployment was taken out of rotation after failures or a 429.",
    ["alias", "deployment"],
    namespace=NAMESPACE,
)
CATALOGUE_CACHE = Counter(
    "catalogue_cache",
    "Route plan lookups in the per-process catalogue cache (hit, miss).",
    ["result"],
    namespace=NAMESPACE,
)

# --- Recorders (one call from where it happens) ---------------------------------------

_labelled_teams: set[str] = set()


def team_label(team_id: str) -> str:
    """The team's own label for the first METRICS_MAX_TEAMS teams this process
    sees, `other` after that (a bounded number of series per process)."""
    if team_id in _labelled_teams:
        return team_id
    if len(_labelled_teams) >= settings.METRICS_MAX_TEAMS:
        return "other"
    _labelled_teams.add(team_id)
    return team_id


def http_request_observed(
    request: HttpRequest, *, status: int, seconds: float, error_code: str | None
) -> None:
    """A request answered (from RequestContextMiddleware), and its refusal if it
    was one."""
    route = route_of(request)
    method = request.method if request.method in METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_DURATION.labels(route, method).observe(seconds)
    if status in REFUSAL_STATUSES:
        REFUSALS.labels(error_code or "unknown").inc()


def _outcome(call: Any) -> str:
    if call.status == "succeeded":
        disconnected = call.finish_reason == "client_disconnected"
        return "client_disconnected" if disconnected else "succeeded"
    code, _, rest = call.error.partition(":")
    if rest.strip().startswith("cancelled"):
        return "cancelled"
    return code if code in PROVIDER_FAILURES else "provider_error"


def llm_call_recorded(*, team_id: str, outcome: CallOutcome) -> None:
    """A call's outcome was recorded (and its one-call job settled)."""
    call = outcome.call
    context = request_context()
    endpoint = route_of(context.request if context is not None else None)
    LLM_CALLS.labels(call.model_alias, endpoint, _outcome(call)).inc()
    if call.latency_ms is not None:
        PROVIDER_LATENCY.labels(call.model_alias).observe(call.latency_ms / 1000)
    team = team_label(team_id)
    if call.prompt_tokens:
        TOKENS.labels(team, "prompt").inc(call.prompt_tokens)
    if call.completion_tokens:
        TOKENS.labels(team, "completion").inc(call.completion_tokens)


def credits_charged(*, team_id: str, credits: int) -> None:
    """A job's charge was committed (jobs.services.job_settle: one-call jobs,
    completed jobs and expired ones alike)."""
    CREDITS_CHARGED.labels(team_label(team_id)).inc(credits)


def first_token_received(*, alias: str, seconds: float) -> None:
    """A stream's first answer arrived, `seconds` after its request."""
    TIME_TO_FIRST_TOKEN.labels(alias).observe(seconds)


def stream_opened() -> None:
    STREAMS_OPEN.inc()


def stream_closed() -> None:
    STREAMS_OPEN.dec()


def catalogue_cache_lookup(result: str) -> None:
    """`hit` or `miss` of jobs.routing's route plans."""
    CATALOGUE_CACHE.labels(result).inc()


def deployment_attempted(*, alias: str, position: int, ok: bool) -> None:
    DEPLOYMENT_ATTEMPTS.labels(alias, str(position), "ok" if ok else "failed").inc()


def deployment_cooled(*, alias: str, position: int) -> None:
    DEPLOYMENT_COOLDOWNS.labels(alias, str(position)).inc()


# --- Read when scraped ----------------------------------------------------------------


class DatabasePoolCollector(Collector):
    """The psycopg pool of the process answering the scrape (none on SQLite)."""

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"{NAMESPACE}_db_pool_connections",
            "Database pool connections of the answering worker: in_use, idle, "
            "waiting (requests queued for one), size, max.",
            labels=["state"],
        )

    def describe(self) -> Iterator[Metric]:
        # Registering must not touch the database (it happens at import).
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        pool = getattr(connections["default"], "pool", None)
        if pool is not None:
            stats = pool.get_stats()
            size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
            family.add_metric(["in_use"], size - idle)
            family.add_metric(["idle"], idle)
            family.add_metric(["waiting"], stats.get("requests_waiting", 0))
            family.add_metric(["size"], size)
            family.add_metric(["max"], stats.get("pool_max", 0))
        yield family


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


_database_pool = DatabasePoolCollector()
if not _multiprocess():
    REGISTRY.register(_database_pool)


def scrape_registry() -> CollectorRegistry:
    """What /metrics serves: every worker's files in multiprocess mode, else this
    process's registry."""
    if not _multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_database_pool)
    return registry


# --- GET /metrics (operator only) -----------------------------------------------------


def _address_allowed(request: HttpRequest) -> bool:
    """The connecting address is in METRICS_ALLOW_IPS (addresses or networks).
    REMOTE_ADDR only: a forwarded header could be forged by anyone."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(allowed, strict=False)
        for allowed in settings.METRICS_ALLOW_IPS
    )


def _is_operator(request: HttpRequest) -> bool:
    """The admin key as `X-Admin-Key` (like every operator endpoint) or as
    `Authorization: Bearer` (what Prometheus sends), or an allow-listed address."""
    if _address_allowed(request):
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and admin_key_matches(token.strip()):
        return True
    try:
        return AdminKeyAuthentication().authenticate(request) is not None  # type: ignore[arg-type]
    except AuthenticationFailed:
        return False


@method_decorator(csrf_exempt, name="dispatch")
class MetricsView(PrometheusDjangoView):
    """Prometheus exposition (prometheus_client's own view), for the operator."""

    http_method_names = ["get"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not _is_operator(request):
            refusal = Unauthenticated(ADMIN_AUTH_FAILED, code="invalid_admin_key")
            return error_response(refusal, Dialect.NATIVE, request)
        self.registry = scrape_registry()
        return super().dispatch(request, *args, **kwargs)

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        refusal = MethodRefused(str(request.method), "GET")
        return error_response(refusal, Dialect.NATIVE, request)
