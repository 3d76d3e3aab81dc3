"""Run background work: webhook deliveries and scheduled maintenance.

    python manage.py worker                 # until SIGTERM / Ctrl-C
    python manage.py worker --batch         # due schedules, then every ready task, exit

It is django-tasks-db's worker (`db_worker`: each task row is taken with
`SELECT … FOR UPDATE SKIP LOCKED`, so two workers never run one task) plus a
scheduler thread that enqueues maintenance (expire_jobs, expire_holds, the key-expiry
scan, the webhook sweep, the daily reconciliation) once per slot whatever the number
of workers (see alerts/services/schedule.py). Run as many as you like, on as many
machines as share the database.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from alerts.services import schedules_enqueue_due

logger = logging.getLogger(__name__)


def scheduler_tick() -> None:
    try:
        schedules_enqueue_due()
    except Exception:
        # A database hiccup must not stop the scheduler; the next tick retries.
        logger.exception("scheduler tick failed")
    finally:
        connection.close()


def scheduler_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        scheduler_tick()
        stop.wait(settings.WORKER_SCHEDULER_TICK_SECONDS)


class Command(BaseCommand):
    help = "Deliver webhooks and run scheduled maintenance (several may run at once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Enqueue due schedules, run every ready task, then exit.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between polls of an empty queue (default 1).",
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Run tasks only; another worker enqueues the maintenance.",
        )
        parser.add_argument("--worker-id", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        worker = Worker(
            queue_names=["*"],
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=not options["batch"],
            max_tasks=None,
            worker_id=options["worker_id"] or get_random_string(32),
            excluded_queue_names=[],
        )
        stop = threading.Event()
        if not options["no_scheduler"]:
            if options["batch"]:
                scheduler_tick()
            else:
                threading.Thread(
                    target=scheduler_loop, args=(stop,), daemon=True
                ).start()
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
