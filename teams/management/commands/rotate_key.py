"""Rotate a team's virtual key: issue a successor and keep the old key valid for a
grace period (default 24h; 0 revokes it at once). Prints the new plaintext once.

    python manage.py rotate_key acme-corp --grace 1h
    python manage.py rotate_key acme-corp --key <key_id> --dry-run
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from saas_litellm.exceptions import ServiceError
from teams.management.commands.create_key import cli_actor, duration_parse, team_get
from teams.models import Team, VirtualKey
from teams.services import virtual_key_get, virtual_key_rotate


def _key_to_rotate(team: Team, key_id: str | None) -> VirtualKey:
    if key_id:
        try:
            return virtual_key_get(team=team, key_id=key_id)
        except ServiceError:
            raise CommandError(
                f"Key '{key_id}' not found for team '{team.team_id}'"
            ) from None
    usable = list(team.keys.usable().filter(rotated_to__isnull=True))
    if not usable:
        raise CommandError(f"Team '{team.team_id}' has no usable key to rotate")
    if len(usable) > 1:
        listing = ", ".join(f"{k.key_id} ({k.name})" for k in usable)
        raise CommandError(
            f"Team '{team.team_id}' has several usable keys; choose one with --key: "
            f"{listing}"
        )
    return usable[0]


class Command(BaseCommand):
    help = (
        "Rotate a virtual key of TEAM: issue a new key (printed once) and keep the old "
        "one valid for --grace. Without --key, the team's only usable key is rotated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team_id of the key's team")
        parser.add_argument(
            "--key", metavar="KEY_ID", help="key_id to rotate (see list_keys)"
        )
        parser.add_argument(
            "--grace",
            default="24h",
            metavar="DURATION",
            help="how long the old key keeps working: 30s, 90m, 24h, 7d or 0 "
            "(revoke at once); default 24h",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would happen and change nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = team_get(options["team"])
        grace = duration_parse(options["grace"])
        old_key = _key_to_rotate(team, options["key"])
        if options["dry_run"]:
            ends = (
                "at once"
                if not grace
                else f"at {timezone.now() + grace:%Y-%m-%dT%H:%M:%SZ}"
            )
            self.stdout.write(
                f"Would rotate key {old_key.key_id} ({old_key.key_prefix}, "
                f"{old_key.name}) of team {team.team_id}; the old key would stop "
                f"working {ends}. Nothing changed (dry run)."
            )
            return
        try:
            rotated = virtual_key_rotate(
                team=team,
                key_id=old_key.key_id,
                grace_seconds=int(grace.total_seconds()),
                actor=cli_actor(),
            )
        except ServiceError as exc:
            raise CommandError(exc.detail) from None
        old = rotated.old_key
        until = old.revoked_at or old.expires_at
        self.stdout.write(
            f"Rotated key {old.key_id} ({old.key_prefix}); it stops working at "
            f"{until.isoformat()}."
        )
        self.stdout.write(f"New key {rotated.key.key_id} ({rotated.key.name}):")
        self.stdout.write(rotated.plaintext)
        self.stderr.write("Store this key now: it will not be shown again.")
