"""Webhook endpoints and the delivery of alert events to them.

Delivery is at least once: an event's delivery rows are written with the event (the
outbox), and a task is enqueued for each in the same transaction. A worker claims a
delivery in a short transaction (`select_for_update(skip_locked=True)`, then status
`sending` with a lease), POSTs outside any transaction, and records the attempt in
another short one: a 2xx ends it, anything else schedules a retry with exponential
backoff and jitter until the retry window (24 h) is over, then it is `failed`. A
worker killed mid-POST leaves a lease that runs out; the sweep hands the delivery to
the next worker, so the receiver may see an event twice and de-duplicates on its id.

The secret is stored encrypted (Fernet, the provider credentials' keys) because
signing needs it; it is decrypted in memory to sign and never logged, stored in an
attempt's error, or shown after creation.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts.models import (
    AlertEvent,
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)
from alerts.signing import (
    webhook_secret_display,
    webhook_secret_generate,
    webhook_signature_header,
)
from saas_litellm.exceptions import InvalidInput, NotFound
from teams.keys import credential_decrypt, credential_encrypt
from teams.models import Organization, Team
from teams.services import audit_log_write

logger = logging.getLogger(__name__)

USER_AGENT = "saas-litellm-webhooks/1"


@dataclass(frozen=True)
class CreatedWebhook:
    """A new endpoint; the plaintext secret exists only in this object."""

    endpoint: WebhookEndpoint
    secret: str


def webhook_endpoint_create(
    *,
    url: str,
    actor: str,
    organization: Organization | None = None,
    team: Team | None = None,
    events: list[str] | None = None,
) -> CreatedWebhook:
    """Register an endpoint for a team, an organization's teams, or (neither) every
    event including the operator's. The secret is returned once, here."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http:// or https:// URL")
    events = list(dict.fromkeys(events or []))
    unknown = [name for name in events if name not in EventType.values]
    if unknown:
        raise InvalidInput(f"unknown event type(s): {', '.join(sorted(unknown))}")
    if team is not None and organization is not None:
        if team.organization_id != organization.pk:
            raise NotFound(
                f"Team '{team.team_id}' not found in organization "
                f"'{organization.organization_id}'"
            )
        organization = None  # the team is the narrower scope
    secret = webhook_secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            organization=organization,
            team=team,
            events=events,
            encrypted_secret=credential_encrypt(secret),
            secret_prefix=webhook_secret_display(secret),
        )
        audit_log_write(
            actor=actor,
            action="webhook.create",
            obj=endpoint,
            object_id=str(endpoint.webhook_id),
            after={
                "url": url,
                "organization_id": organization.organization_id
                if organization
                else None,
                "team_id": team.team_id if team else None,
                "events": events,
                "secret_prefix": endpoint.secret_prefix,
            },
        )
    return CreatedWebhook(endpoint=endpoint, secret=secret)


def webhook_endpoints_active() -> Any:
    return WebhookEndpoint.objects.filter(deleted_at__isnull=True).select_related(
        "organization", "team"
    )


def webhook_endpoint_get(*, webhook_id: str | uuid.UUID) -> WebhookEndpoint:
    try:
        webhook_uuid = uuid.UUID(str(webhook_id))
    except ValueError:
        raise NotFound(f"Webhook '{webhook_id}' not found") from None
    endpoint = webhook_endpoints_active().filter(webhook_id=webhook_uuid).first()
    if endpoint is None:
        raise NotFound(f"Webhook '{webhook_id}' not found")
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: str) -> None:
    """Stop sending to an endpoint. Its history stays; pending deliveries fail."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.deleted_at is not None:
            return
        locked.deleted_at = timezone.now()
        locked.is_active = False
        locked.save(update_fields=["deleted_at", "is_active"])
        locked.deliveries.filter(status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED
        )
        audit_log_write(
            actor=actor,
            action="webhook.delete",
            obj=locked,
            object_id=str(locked.webhook_id),
            before={"url": locked.url},
        )


def _endpoints_for(event: AlertEvent) -> list[WebhookEndpoint]:
    scope = Q(team__isnull=True, organization__isnull=True)
    if event.team_id is not None:
        scope |= Q(team_id=event.team_id)
    if event.organization_id is not None:
        scope |= Q(team__isnull=True, organization_id=event.organization_id)
    endpoints = WebhookEndpoint.objects.filter(scope, is_active=True)
    return [
        endpoint
        for endpoint in endpoints
        if not endpoint.events or event.event_type in endpoint.events
    ]


def webhook_deliveries_create(*, event: AlertEvent) -> list[WebhookDelivery]:
    """One delivery per matching endpoint, each with its task enqueued, in the
    caller's transaction (the event's)."""
    from alerts.tasks import webhook_deliver

    deliveries = []
    for endpoint in _endpoints_for(event):
        delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint)
        webhook_deliver.enqueue(delivery_id=delivery.pk)
        deliveries.append(delivery)
    return deliveries


def webhook_payload(event: AlertEvent) -> bytes:
    """The JSON body: `id` (also as `event_id`, the contract's name), type, created_at,
    organization_id, team_id and data."""
    body = {
        "id": str(event.event_id),
        "event_id": str(event.event_id),
        "type": event.event_type,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "organization_id": event.organization.organization_id
        if event.organization
        else None,
        "team_id": event.team.team_id if event.team else None,
        "data": event.data,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def _lease_seconds() -> float:
    # Longer than any one POST can take (connect + write + read timeouts), so a
    # live worker never loses its lease to another mid-POST.
    return 3 * settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS + 1


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after `attempt` failed ones: exponential,
    capped, with jitter (half fixed, half random) so that endpoints that failed
    together are not retried in step."""
    base = settings.ALERTS_WEBHOOK_RETRY_BASE_SECONDS
    delay = min(settings.ALERTS_WEBHOOK_RETRY_MAX_SECONDS, base * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not a secret


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt, or None (not due, done, or another
    worker holds it)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "event__team", "event__organization")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        due = (
            delivery.status == DeliveryStatus.PENDING
            and delivery.next_attempt_at <= now
        ) or (
            delivery.status == DeliveryStatus.SENDING
            and delivery.lease_until is not None
            and delivery.lease_until < now
        )
        if not due:
            return None
        window = timedelta(seconds=settings.ALERTS_WEBHOOK_RETRY_WINDOW_SECONDS)
        if not delivery.endpoint.is_active or now - delivery.event.created_at > window:
            delivery.status, delivery.lease_until = DeliveryStatus.FAILED, None
            delivery.save(update_fields=["status", "lease_until"])
            return None
        delivery.status = DeliveryStatus.SENDING
        delivery.attempts += 1
        delivery.lease_until = now + timedelta(seconds=_lease_seconds())
        delivery.save(update_fields=["status", "attempts", "lease_until"])
        return delivery


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the event; (status code or None, sanitized error). Outside any
    transaction. The error names the failure's kind only: never the URL (it may
    carry credentials), the secret, the signature or the answer's body."""
    body = webhook_payload(delivery.event)
    timestamp = int(time.time())
    secret = credential_decrypt(delivery.endpoint.encrypted_secret)
    signature = webhook_signature_header(secret=secret, timestamp=timestamp, body=body)
    event_id = str(delivery.event.event_id)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": signature,
        "X-Event-Id": event_id,
        # The same values under the names of the product contract (API.md).
        "X-Webhook-Id": event_id,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": signature.split(",", 1)[1],
    }
    try:
        with httpx.Client(
            timeout=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            response = client.post(delivery.endpoint.url, content=body, headers=headers)
    except Exception as exc:
        # Any failure to POST (httpx's, or a URL httpx refuses) is an attempt that
        # failed, named by its kind only: its message may quote the URL.
        return None, type(exc).__name__
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def webhook_delivery_run(*, delivery_id: int) -> str:
    """One attempt at a delivery; its resulting status ("skipped" when it was not
    due or another worker holds it)."""
    from alerts.tasks import webhook_deliver

    started = timezone.now()
    delivery = _claim(delivery_id, started)
    if delivery is None:
        return "skipped"
    number = delivery.attempts
    clock = time.monotonic()
    status_code, error = _post(delivery)
    latency_ms = int((time.monotonic() - clock) * 1000)
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        DeliveryAttempt.objects.create(
            delivery=locked,
            number=number,
            started_at=started,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
        )
        if locked.status != DeliveryStatus.SENDING or locked.attempts != number:
            # Our lease ran out and another worker took over: its outcome counts.
            return locked.status
        now = timezone.now()
        locked.lease_until = None
        window = timedelta(seconds=settings.ALERTS_WEBHOOK_RETRY_WINDOW_SECONDS)
        if not error:
            locked.status, locked.delivered_at = DeliveryStatus.DELIVERED, now
        elif now - delivery.event.created_at >= window:
            locked.status = DeliveryStatus.FAILED
        else:
            locked.status = DeliveryStatus.PENDING
            locked.next_attempt_at = now + timedelta(seconds=retry_delay(number))
            webhook_deliver.using(run_after=locked.next_attempt_at).enqueue(
                delivery_id=locked.pk
            )
        locked.save(
            update_fields=["status", "delivered_at", "next_attempt_at", "lease_until"]
        )
    log = logger.info if not error else logger.warning
    log(
        "webhook delivery %s of event %s to endpoint %s: attempt %d %s (%d ms)",
        delivery.pk,
        delivery.event.event_id,
        delivery.endpoint.webhook_id,
        number,
        error or status_code,
        latency_ms,
    )
    return locked.status


def webhook_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Enqueue a task for every delivery that is overdue (its task was lost or its
    worker died) or whose lease ran out. An extra task is harmless: the claim lets
    one attempt through at a time. Count enqueued returned."""
    from alerts.tasks import webhook_deliver

    now = now or timezone.now()
    grace = timedelta(seconds=settings.ALERTS_WEBHOOK_SWEEP_GRACE_SECONDS)
    stuck = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - grace)
        | Q(status=DeliveryStatus.SENDING, lease_until__lt=now)
    ).values_list("pk", flat=True)[:1000]
    count = 0
    for delivery_id in stuck:
        webhook_deliver.enqueue(delivery_id=delivery_id)
        count += 1
    return count
