"""List a team's virtual keys in display form (never a plaintext key).

python manage.py list_keys acme-corp
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from teams.management.commands.create_key import team_get

COLUMNS = ("key_id", "name", "key", "status", "created", "last used", "ends")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


class Command(BaseCommand):
    help = "List the virtual keys of TEAM: id, name, display form, status and dates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team_id of the team")

    def handle(self, *args: Any, **options: Any) -> None:
        team = team_get(options["team"])
        rows = [
            (
                str(key.key_id),
                key.name,
                key.key_prefix,
                key.status,
                _when(key.created_at),
                _when(key.last_used_at),
                _when(key.revoked_at or key.expires_at),
            )
            for key in team.keys.order_by("created_at")
        ]
        if not rows:
            self.stdout.write(f"Team {team.team_id} has no keys.")
            return
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(7)]
        for row in [COLUMNS, *rows]:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
