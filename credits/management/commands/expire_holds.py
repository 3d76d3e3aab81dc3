"""Release credit holds past their expiry, so a crashed worker cannot lock credits.

Safe to run at any time and from several machines: each hold is re-checked under its
account's lock before it is released.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from credits.services import holds_expire


class Command(BaseCommand):
    help = "Release every open credit hold whose expiry has passed."

    def handle(self, *args: Any, **options: Any) -> None:
        released = holds_expire()
        self.stdout.write(f"Released {released} expired hold(s).")
