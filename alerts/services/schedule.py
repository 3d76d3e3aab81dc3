"""Scheduled maintenance, run by the workers: once per slot, never twice at once.

Every worker ticks `schedules_enqueue_due` (alerts/management/commands/worker.py).
For each job whose current slot (the time floored to its interval) has no run yet, it
inserts the ScheduleRun row and enqueues the task in one transaction: the unique
(name, slot_start) lets exactly one worker, on whatever machine, enqueue a slot, and
the queue gives the task to exactly one worker. A run that starts while another run
of the same job is still going (a slow reconciliation) is skipped, not overlapped:
both mark themselves running, then each looks for the other, so at most one goes on.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import RunStatus, ScheduleRun
from alerts.services.rules import keys_expiring_alert, reconcile_alert
from alerts.services.webhooks import webhook_deliveries_sweep
from credits.services import credits_reconcile, holds_expire
from jobs.services import jobs_expire

logger = logging.getLogger(__name__)


def _expire_jobs(slot: datetime) -> str:
    older_than = timedelta(seconds=settings.WORKER_EXPIRE_JOBS_OLDER_THAN_SECONDS)
    closed = jobs_expire(older_than=older_than)
    return ", ".join(f"{name} {count}" for name, count in closed.items())


def _expire_holds(slot: datetime) -> str:
    return f"released {holds_expire()}"


def _reconcile_credits(slot: datetime) -> str:
    report = credits_reconcile()
    reconcile_alert(report=report, period=slot.date().isoformat())
    return f"{len(report)} account(s) off" if report else "ok"


def _keys_expiring(slot: datetime) -> str:
    return f"fired {keys_expiring_alert()}"


def _webhooks_sweep(slot: datetime) -> str:
    return f"enqueued {webhook_deliveries_sweep()}"


def _prune_worker_rows(slot: datetime) -> str:
    """The queue's finished task rows (through django-tasks-db's own command) and
    finished schedule runs, past WORKER_KEEP_FINISHED_DAYS."""
    days = settings.WORKER_KEEP_FINISHED_DAYS
    out = io.StringIO()
    call_command("prune_db_task_results", min_age_days=days, stdout=out)
    runs, _ = (
        ScheduleRun.objects.filter(slot_start__lt=slot - timedelta(days=days))
        .exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])
        .delete()
    )
    return f"{out.getvalue().strip()}; {runs} schedule run(s) deleted"


@dataclass(frozen=True)
class Schedule:
    name: str
    setting: str  # the settings.WORKER_SCHEDULE key holding its interval (seconds)
    run: Callable[[datetime], str]

    @property
    def interval(self) -> int:
        return int(settings.WORKER_SCHEDULE[self.setting])


SCHEDULES = (
    Schedule("expire_jobs", "expire_jobs", _expire_jobs),
    Schedule("expire_holds", "expire_holds", _expire_holds),
    Schedule("reconcile_credits", "reconcile_credits", _reconcile_credits),
    Schedule("keys_expiring", "keys_expiring", _keys_expiring),
    Schedule("webhooks_sweep", "webhooks_sweep", _webhooks_sweep),
    Schedule("prune_worker_rows", "prune_worker_rows", _prune_worker_rows),
)
SCHEDULES_BY_NAME = {schedule.name: schedule for schedule in SCHEDULES}


def slot_start(*, interval: int, now: datetime) -> datetime:
    seconds = int(now.timestamp()) // interval * interval
    return datetime.fromtimestamp(seconds, tz=UTC)


def schedules_enqueue_due(*, now: datetime | None = None) -> list[ScheduleRun]:
    """Enqueue each job whose current slot has no run yet; the runs this call
    enqueued (none when another worker was first)."""
    from alerts.tasks import scheduled_job_run

    now = now or timezone.now()
    enqueued = []
    for schedule in SCHEDULES:
        slot = slot_start(interval=schedule.interval, now=now)
        if ScheduleRun.objects.filter(name=schedule.name, slot_start=slot).exists():
            continue
        try:
            with transaction.atomic():
                run = ScheduleRun.objects.create(name=schedule.name, slot_start=slot)
                scheduled_job_run.enqueue(run_id=run.pk)
        except IntegrityError:
            continue  # another worker enqueued this slot first
        enqueued.append(run)
    return enqueued


def schedule_run_execute(*, run_id: int) -> str:
    """Run one slot of a scheduled job (the task's body); its final status."""
    now = timezone.now()
    claimed = ScheduleRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now
    )
    run = ScheduleRun.objects.get(pk=run_id)
    if not claimed:
        return run.status
    schedule = SCHEDULES_BY_NAME[run.name]
    # A run older than this that still says "running" died with its worker.
    stale = now - timedelta(seconds=max(2 * schedule.interval, 600))
    overlapping = (
        ScheduleRun.objects.filter(
            name=run.name, status=RunStatus.RUNNING, started_at__gt=stale
        )
        .exclude(pk=run.pk)
        .exists()
    )
    if overlapping:
        status, detail = RunStatus.SKIPPED, "previous run still going"
    else:
        try:
            status, detail = RunStatus.DONE, schedule.run(run.slot_start)
        except Exception as exc:
            logger.exception("scheduled job %s failed", run.name)
            status, detail = RunStatus.FAILED, type(exc).__name__
    ScheduleRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), detail=detail[:500]
    )
    return status
