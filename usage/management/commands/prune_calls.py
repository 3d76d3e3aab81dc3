"""Delete raw LLM call rows and closed credit holds past retention, in batches.

    python manage.py prune_calls [--older-than 400d] [--batch-size 1000] [--dry-run]

Removes the calls of closed jobs created before the cutoff (default
CALL_RETENTION_DAYS days ago; stored responses keep their conversation, unlinked
from the call), the holds closed before it, and the logged payloads whose team's
payload_log_days are over, each batch in its own short transaction. The ledger, the
usage rollups, jobs, open jobs' calls and open holds are never touched. --dry-run
counts what would go. Run it daily from a scheduler.
Prefer setting CALL_RETENTION_DAYS to passing a shorter --older-than: `rollups_rebuild`
starts its range after that many days, where every call is still there.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.management.commands.expire_jobs import duration_parse
from saas_litellm.exceptions import InvalidInput
from usage.services import calls_prune


class Command(BaseCommand):
    help = "Delete calls of closed jobs and closed holds older than --older-than."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            default=f"{settings.CALL_RETENTION_DAYS}d",
            help="Age past which rows go: 400d, 24h, … "
            "(default CALL_RETENTION_DAYS days).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Rows per transaction."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count only; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = calls_prune(
                older_than=duration_parse(options["older_than"]),
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
            )
        except InvalidInput as exc:
            raise CommandError(exc.detail) from None
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {result.calls} call(s) and {result.holds} closed hold(s) "
            f"older than {result.cutoff.isoformat()}, and {result.payloads} "
            "payload(s) kept past their time"
            + ("" if options["dry_run"] else f" in {result.batches} batch(es).")
        )
