"""Log formatting: one JSON object a line with LOG_FORMAT=json, and the access log.

settings.LOGGING picks the formatter. With LOG_FORMAT=json every record is a JSON
line carrying the current request's id, and the app writes one access line per
request (logger `saas_litellm.access`, from RequestContextMiddleware); gunicorn's
own access log, which is not JSON, stays off. Human-readable lines without an
access log remain the default.

What goes in a line is chosen here, field by field: never a key, a prompt or a
provider secret (the key's public id only, the path without its query string).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from saas_litellm.request_context import RequestContext, request_id_current, route_of

access_logger = logging.getLogger("saas_litellm.access")

# The fields an access record carries (`extra=`), written as they are.
ACCESS_FIELDS = (
    "method",
    "path",
    "route",
    "status",
    "latency_ms",
    "team_id",
    "key_id",
    "alias",
    "credits_charged",
    "code",
)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", "request_id", …}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_current(),
        }
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def access_log(context: RequestContext, *, status: int, seconds: float) -> None:
    """The request's access line, when the access logger is on (LOG_FORMAT=json)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    request = context.request
    method = request.method if request is not None else "-"
    path = request.path if request is not None else "-"
    fields = {
        "request_id": context.request_id,
        "method": method,
        "path": path,
        "route": route_of(request),
        "status": status,
        "latency_ms": round(seconds * 1000, 1),
        "team_id": context.team_id,
        "key_id": context.key_id,
        "alias": context.alias,
        "credits_charged": context.credits_charged,
        "code": context.error_code,
    }
    access_logger.info(
        "%s %s %s %.1fms", method, path, status, seconds * 1000, extra=fields
    )
