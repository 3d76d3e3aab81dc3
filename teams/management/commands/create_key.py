"""Issue a new virtual key for a team and print its plaintext once.

    python manage.py create_key acme-corp --name production --expires 90d

The plaintext goes to stdout only; the database keeps its keyed hash. This module
also holds the small helpers the other key commands share.
"""

from __future__ import annotations

import getpass
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from saas_litellm.exceptions import ServiceError
from teams.models import Team
from teams.services import virtual_key_create

DURATION_PATTERN = re.compile(r"^(\d{1,9})([smhd]?)$")
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def cli_actor() -> str:
    """Audit-log actor for commands: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def duration_parse(value: str) -> timedelta:
    """`30s`, `90m`, `24h`, `7d` or plain seconds (`0`)."""
    match = DURATION_PATTERN.fullmatch(value.strip().lower())
    if match is None:
        raise CommandError(
            f"Invalid duration '{value}': use e.g. 30s, 90m, 24h, 7d or 0"
        )
    return timedelta(seconds=int(match.group(1)) * DURATION_UNITS[match.group(2)])


def expiry_parse(value: str) -> datetime:
    """An ISO-8601 time with a timezone (`2027-01-01T00:00:00Z`) or a duration."""
    if DURATION_PATTERN.fullmatch(value.strip().lower()):
        return timezone.now() + duration_parse(value)
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None or timezone.is_naive(moment):
        raise CommandError(
            f"Invalid --expires '{value}': use an ISO time with a timezone such as "
            "2027-01-01T00:00:00Z, or a duration such as 30d"
        )
    return moment


def team_get(team_id: str) -> Team:
    team = Team.objects.select_related("organization").filter(team_id=team_id).first()
    if team is None:
        raise CommandError(f"Team '{team_id}' not found")
    return team


class Command(BaseCommand):
    help = (
        "Issue a new virtual key for TEAM and print it once (it cannot be shown again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("team", help="team_id of the team that gets the key")
        parser.add_argument(
            "--name", default="default", help="label of the key (default: default)"
        )
        parser.add_argument(
            "--expires",
            metavar="WHEN",
            help="expiry: ISO time like 2027-01-01T00:00:00Z, or a duration like 30d",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        team = team_get(options["team"])
        expires_at = expiry_parse(options["expires"]) if options["expires"] else None
        if len(options["name"]) > 100:
            raise CommandError("--name must be at most 100 characters")
        try:
            issued = virtual_key_create(
                team=team,
                name=options["name"],
                expires_at=expires_at,
                actor=cli_actor(),
            )
        except ServiceError as exc:
            raise CommandError(exc.detail) from None
        key = issued.key
        self.stdout.write(f"Key {key.key_id} ({key.name}) for team {team.team_id}")
        if key.expires_at:
            self.stdout.write(f"Expires: {key.expires_at.isoformat()}")
        self.stdout.write(issued.plaintext)
        self.stderr.write("Store this key now: it will not be shown again.")
