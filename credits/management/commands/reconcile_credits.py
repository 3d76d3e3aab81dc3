"""Check that every credit account reconciles with its ledger and holds.

For each account: balance = Σ entries, credits_allocated = Σ allocations,
replenishments and adjustments, credits_used = deductions - refunds, credits_reserved =
Σ open holds, available ≥ 0, every entry's before/after continues the previous one, and
each key or end-user budget period agrees with its jobs. Entries verified by an earlier
run are not read again (checkpoints; `--full` reads every entry). Prints a readable
report and exits with status 1 when anything is off.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from credits.models import CreditAccount
from credits.services import credits_reconcile


class Command(BaseCommand):
    help = "Check every credit account against its ledger and holds (exit 1 if off)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--full",
            action="store_true",
            help="verify every ledger entry, not only those since the last run",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checked = CreditAccount.objects.count()
        report = credits_reconcile(full=options["full"])
        if not report:
            self.stdout.write(
                self.style.SUCCESS(f"OK: {checked} account(s) reconcile.")
            )
            return
        for team_id, problems in report.items():
            self.stdout.write(self.style.ERROR(f"team {team_id}:"))
            for problem in problems:
                self.stdout.write(f"  - {problem}")
        raise CommandError(
            f"{len(report)} of {checked} account(s) do not reconcile (see above)."
        )
