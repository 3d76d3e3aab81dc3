"""Close jobs abandoned by their clients, and bill what they used.

    python manage.py expire_jobs --older-than 2h     (also 30m, 1d, 90s)

An open job whose last activity is older than that is completed (and charged under
its team's budget mode) when it has at least one successful call, else failed (its
reservation is released). A job with a call still running is left for the next run.
Run it from cron or a scheduler, e.g. every 15 minutes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.services import jobs_expire

DURATION = re.compile(r"^(\d{1,9})([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_parse(value: str) -> timedelta:
    match = DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise CommandError(f"Invalid duration '{value}': use e.g. 90s, 30m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


class Command(BaseCommand):
    help = "Close open jobs idle for longer than --older-than and bill what they used."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default="2h",
            help="Idle time after which an open job is closed (default 2h).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        closed = jobs_expire(older_than=duration_parse(options["older_than"]))
        self.stdout.write(
            f"Expired jobs: {closed['completed']} completed (billed), "
            f"{closed['failed']} failed (released), "
            f"{closed['skipped']} skipped (calls still running)."
        )
