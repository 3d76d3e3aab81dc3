"""Revoke one of a team's virtual keys at once; it is refused on the next request.

python manage.py revoke_key acme-corp --key <key_id>
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from saas_litellm.exceptions import ServiceError
from teams.management.commands.create_key import cli_actor, team_get
from teams.services import virtual_key_revoke


class Command(BaseCommand):
    help = "Revoke the virtual key --key of TEAM immediately (see list_keys for ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team_id of the key's team")
        parser.add_argument(
            "--key", required=True, metavar="KEY_ID", help="key_id to revoke"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = team_get(options["team"])
        try:
            key = virtual_key_revoke(
                team=team, key_id=options["key"], actor=cli_actor()
            )
        except ServiceError:
            raise CommandError(
                f"Key '{options['key']}' not found for team '{team.team_id}'"
            ) from None
        self.stdout.write(
            f"Revoked key {key.key_id} ({key.key_prefix}, {key.name}) of team "
            f"{team.team_id} at {key.revoked_at.isoformat()}."
        )
