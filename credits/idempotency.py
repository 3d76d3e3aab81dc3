"""`Idempotency-Key` for admin writes: a retried request gets the first answer.

The first request with a key inserts an IdempotencyRecord (the unique constraint on
scope + key decides who is first) and commits it before doing the work, then stores
its response. A repeat with the same body gets that stored response and changes
nothing; with another body it is a 422; while the first is still running, a 409. When
the work fails the record is deleted, so the client can simply retry.

Accepted trade-off: a process that dies between the two steps leaves a record without a
response; after STALE_AFTER it is treated as abandoned and the next request takes over.
Views that add credits also pass `request_ledger_key(request)` to the service, so even
then the ledger entry is written once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from credits.models import IdempotencyRecord
from saas_litellm.exceptions import (
    IdempotencyInProgress,
    IdempotencyMismatch,
    InvalidInput,
)

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
STALE_AFTER = timedelta(minutes=10)

ViewMethod = Callable[..., Response]
Redactor = Callable[[dict[str, Any]], dict[str, Any]]


def request_fingerprint(data: Any) -> str:
    """sha256 of the body as canonical JSON: key order and spacing do not matter."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def ledger_key(*, scope: str, key: str) -> str:
    """A ledger idempotency key derived from the header: passed down to the service,
    it keeps the write single even if a stale record is ever taken over."""
    return "http:" + hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()


def request_ledger_key(request: Request) -> str | None:
    return getattr(request, "idempotency_ledger_key", None)


def idempotency_begin(
    *, scope: str, key: str, fingerprint: str
) -> IdempotencyRecord | None:
    """Claim `key` for this request: None when it is ours, else the first record."""
    for _attempt in range(2):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    scope=scope, key=key, request_fingerprint=fingerprint
                )
            return None
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
            if record is None:
                continue  # the first request failed and let go of the key: retry
            abandoned = (
                record.response_status is None
                and record.created_at < timezone.now() - STALE_AFTER
            )
            if not abandoned:
                return record
            IdempotencyRecord.objects.filter(
                pk=record.pk, response_status__isnull=True
            ).delete()
    raise IdempotencyInProgress()


def idempotency_finish(
    *, scope: str, key: str, status: int, body: dict[str, Any]
) -> None:
    IdempotencyRecord.objects.filter(scope=scope, key=key).update(
        response_status=status, response_body=body
    )


def idempotency_abandon(*, scope: str, key: str) -> None:
    IdempotencyRecord.objects.filter(
        scope=scope, key=key, response_status__isnull=True
    ).delete()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.request_fingerprint != fingerprint:
        raise IdempotencyMismatch()
    if record.response_status is None:
        raise IdempotencyInProgress()
    return Response(record.response_body, status=record.response_status)


def idempotent(redact: Redactor | None = None) -> Callable[[ViewMethod], ViewMethod]:
    """Decorate an APIView method. `redact` shapes the stored copy of the body (for
    instance to drop a plaintext key, which must never be stored)."""

    def decorate(view_method: ViewMethod) -> ViewMethod:
        @wraps(view_method)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return view_method(view, request, *args, **kwargs)
            key = key.strip()
            if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
                raise InvalidInput(
                    f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters"
                )
            scope = f"{request.method} {request.path}"[:200]
            request.idempotency_ledger_key = ledger_key(scope=scope, key=key)
            fingerprint = request_fingerprint(request.data)
            record = idempotency_begin(scope=scope, key=key, fingerprint=fingerprint)
            if record is not None:
                return _replay(record, fingerprint)
            try:
                response = view_method(view, request, *args, **kwargs)
            except BaseException:
                idempotency_abandon(scope=scope, key=key)
                raise
            if response.status_code >= HTTPStatus.BAD_REQUEST:
                idempotency_abandon(scope=scope, key=key)
                return response
            # Through DRF's encoder, so UUIDs, dates and Decimals store as JSON.
            body = json.loads(json.dumps(response.data, cls=JSONEncoder))
            idempotency_finish(
                scope=scope,
                key=key,
                status=response.status_code,
                body=redact(body) if redact else body,
            )
            return response

        return wrapper

    return decorate
