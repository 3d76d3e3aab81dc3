"""Recompute the usage rollups from the raw tables (calls and the ledger), and repair
them; with --check, only compare.

    python manage.py rollups_rebuild [--check] [--start YYYY-MM-DD] [--end YYYY-MM-DD]

The days run from --start (default: the first day retention has kept every call of,
CALL_RETENTION_DAYS) to --end (default: today, UTC), both included. --check reads
one consistent snapshot, locks nothing, prints every group that differs and exits
with status 1 if any does. Without it, each day is recounted in a short transaction
that holds back that moment's call outcomes, and the groups that differed are
rewritten and printed.

Days whose calls were pruned cannot be recounted (their rollups are all that is left):
keep --start after the cutoff `prune_calls` used. A rebuild would rewrite such a day
from what is left.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from usage.services import rollups_check, rollups_default_start, rollups_rebuild


def date_parse(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise CommandError(f"Invalid date '{value}': use YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Recompute usage rollups from calls and the ledger (--check: compare only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare only; exit 1 and print the groups that differ.",
        )
        parser.add_argument("--start", type=date_parse, help="First day (UTC).")
        parser.add_argument("--end", type=date_parse, help="Last day (UTC).")

    def handle(self, *args: Any, **options: Any) -> None:
        start = options["start"] or rollups_default_start()
        end = options["end"] or timezone.now().astimezone(UTC).date()
        if end < start:
            raise CommandError("--end must not be before --start")
        if options["check"]:
            differences = rollups_check(start=start, end=end)
        else:
            differences = rollups_rebuild(start=start, end=end)
        for difference in differences:
            self.stdout.write(difference.describe())
        if options["check"] and differences:
            raise CommandError(
                f"{len(differences)} rollup group(s) from {start} to {end} disagree "
                "with the calls and the ledger (see above)."
            )
        verb = "agree" if options["check"] else f"rebuilt ({len(differences)} fixed)"
        self.stdout.write(self.style.SUCCESS(f"OK: rollups {start} to {end} {verb}."))
