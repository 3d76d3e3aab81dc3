"""Scheduled maintenance: enqueued once per slot, never run twice at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import AlertEvent, EventType, RunStatus, ScheduleRun
from alerts.services import SCHEDULES, schedule_run_execute, schedules_enqueue_due
from credits.models import CreditAccount


@pytest.mark.django_db
def test_a_slot_is_enqueued_once_however_often_workers_tick():
    now = timezone.now()
    first = schedules_enqueue_due(now=now)
    again = schedules_enqueue_due(now=now)
    assert len(first) == len(SCHEDULES)
    assert again == []


@pytest.mark.django_db
def test_the_next_slot_is_enqueued_again():
    now = timezone.now()
    schedules_enqueue_due(now=now)
    later = schedules_enqueue_due(now=now + timedelta(minutes=5))
    assert {run.name for run in later} >= {"expire_jobs", "expire_holds"}


@pytest.mark.django_db
def test_a_run_is_skipped_while_the_previous_one_is_still_going():
    now = timezone.now()
    ScheduleRun.objects.create(
        name="expire_jobs",
        slot_start=now - timedelta(minutes=5),
        status=RunStatus.RUNNING,
        started_at=now - timedelta(minutes=1),
    )
    run = ScheduleRun.objects.create(name="expire_jobs", slot_start=now)
    assert schedule_run_execute(run_id=run.pk) == RunStatus.SKIPPED


@pytest.mark.django_db
def test_a_run_is_executed_once():
    run = ScheduleRun.objects.create(name="expire_holds", slot_start=timezone.now())
    assert schedule_run_execute(run_id=run.pk) == RunStatus.DONE
    assert schedule_run_execute(run_id=run.pk) == RunStatus.DONE
    run.refresh_from_db()
    assert run.detail == "released 0"


@pytest.mark.django_db
def test_reconciliation_alerts_the_operator_when_an_account_is_off(team):
    CreditAccount.objects.filter(team=team).update(credits_used=7)  # no entry
    run = ScheduleRun.objects.create(
        name="reconcile_credits", slot_start=timezone.now()
    )
    schedule_run_execute(run_id=run.pk)
    event = AlertEvent.objects.get(event_type=EventType.RECONCILE_FAILED)
    assert event.team is None
    assert "acme-corp" in event.data["teams"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_enqueue_each_slot_once():
    now = timezone.now()

    def tick(_: int) -> int:
        try:
            return len(schedules_enqueue_due(now=now))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        enqueued = sum(pool.map(tick, range(8)))
    assert enqueued == len(SCHEDULES)
    assert ScheduleRun.objects.count() == len(SCHEDULES)


@pytest.mark.django_db
def test_finished_worker_rows_past_their_keep_are_pruned_daily(settings):
    now = timezone.now()
    old = now - timedelta(days=settings.WORKER_KEEP_FINISHED_DAYS + 1)
    ScheduleRun.objects.create(name="expire_jobs", slot_start=old, status="done")
    kept_running = ScheduleRun.objects.create(
        name="expire_holds", slot_start=old, status=RunStatus.RUNNING, started_at=old
    )
    recent = ScheduleRun.objects.create(
        name="expire_jobs", slot_start=now - timedelta(days=1), status="done"
    )
    run = ScheduleRun.objects.create(name="prune_worker_rows", slot_start=now)
    assert schedule_run_execute(run_id=run.pk) == RunStatus.DONE
    left = set(ScheduleRun.objects.values_list("pk", flat=True))
    assert left == {kept_running.pk, recent.pk, run.pk}
    run.refresh_from_db()
    assert "1 schedule run(s) deleted" in run.detail
