"""Events reach a real receiver on 127.0.0.1, signed, retried with backoff."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertEvent, DeliveryStatus, WebhookDelivery
from alerts.services import retry_delay, webhook_deliveries_sweep
from alerts.signing import webhook_signature, webhook_signature_valid
from alerts.tests.conftest import charge, run_worker
from teams.services import team_status_set

# A worker closes its connection between tasks (as in production), which needs
# real transactions: on PostgreSQL, like the other concurrency tests.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.ALERTS_WEBHOOK_RETRY_BASE_SECONDS = 0.05
    settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS = 2


def work_until_settled(deadline_seconds: float = 20) -> None:
    """Run the worker until no delivery is pending (retries wait for backoff)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        run_worker()
        if not WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
        ).exists():
            return
        time.sleep(0.05)
    raise AssertionError("deliveries still pending")


def test_the_receiver_gets_the_event_signed(receiver, webhook, team):
    _, secret = webhook
    charge(team, 80)
    work_until_settled()
    assert len(receiver.received) == 2
    for request in receiver.received:
        assert webhook_signature_valid(
            secret=secret, header=request.headers["X-Signature"], body=request.body
        )
        assert request.headers["X-Event-Id"] == request.json["id"]
    body = receiver.received[-1].json
    assert body["type"] == "credits.threshold_crossed"
    assert body["team_id"] == "acme-corp"
    assert body["organization_id"] == "org_acme"
    assert body["data"]["threshold_percent"] in (50, 80)


def test_the_contracts_headers_carry_the_same_signature(receiver, webhook, team):
    _, secret = webhook
    team_status_set(team=team, status="suspended", actor="tests")
    work_until_settled()
    headers = receiver.received[0].headers
    expected = webhook_signature(
        secret=secret,
        timestamp=int(headers["X-Webhook-Timestamp"]),
        body=receiver.received[0].body,
    )
    assert headers["X-Webhook-Signature"] == f"v1={expected}"
    assert receiver.received[0].json["type"] == "team.suspended"


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth(
    receiver, webhook, team
):
    receiver.script = [500, 503, 502]
    team_status_set(team=team, status="suspended", actor="tests")
    work_until_settled()
    assert len(receiver.received) == 4
    assert len(set(receiver.event_ids())) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    attempts = list(delivery.attempt_log.order_by("number"))
    assert [a.status_code for a in attempts] == [500, 503, 502, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 503", "HTTP 502", ""]


def test_an_unreachable_endpoint_records_a_sanitized_error(receiver, webhook, team):
    endpoint, _ = webhook
    endpoint.url = "http://user:pw@127.0.0.1:9/hook"
    endpoint.save(update_fields=["url"])
    team_status_set(team=team, status="suspended", actor="tests")
    run_worker()
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error == "ConnectError"


def test_a_delivery_is_failed_after_the_retry_window(receiver, webhook, team, settings):
    receiver.script = [500] * 10
    team_status_set(team=team, status="suspended", actor="tests")
    AlertEvent.objects.update(created_at=timezone.now() - timedelta(hours=25))
    run_worker()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    assert receiver.received == []


def test_retries_back_off_exponentially_with_jitter(settings):
    settings.ALERTS_WEBHOOK_RETRY_BASE_SECONDS = 30
    delays = [retry_delay(attempt) for attempt in (1, 2, 3, 4)]
    for attempt, delay in enumerate(delays, start=1):
        assert 15 * 2 ** (attempt - 1) <= delay <= 30 * 2 ** (attempt - 1)
    assert retry_delay(30) <= settings.ALERTS_WEBHOOK_RETRY_MAX_SECONDS


def test_the_sweep_re_enqueues_a_delivery_whose_task_was_lost(
    receiver, webhook, team, settings
):
    from django_tasks_db.models import DBTaskResult

    team_status_set(team=team, status="suspended", actor="tests")
    DBTaskResult.objects.all().delete()  # as if the task had been lost
    settings.ALERTS_WEBHOOK_SWEEP_GRACE_SECONDS = 0
    assert webhook_deliveries_sweep() == 1
    run_worker()
    assert len(receiver.received) == 1
