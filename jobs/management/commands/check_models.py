"""Send one tiny request through each deployment of the aliases named (all active
aliases when none is named) and report ok / latency / the sanitized error.

    python manage.py check_models [ALIAS ...]

Exits with status 1 when a deployment failed, so it can run from a deploy script.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from jobs.services.checks import deployments_check
from teams.models import ModelAlias


class Command(BaseCommand):
    help = "Send one tiny request through each deployment of the aliases named."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("aliases", nargs="*", metavar="ALIAS")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["aliases"]
        aliases = ModelAlias.objects.filter(is_active=True)
        if names:
            aliases = ModelAlias.objects.filter(model_alias__in=names)
            missing = sorted(set(names) - {a.model_alias for a in aliases})
            if missing:
                raise CommandError(f"Unknown model alias(es): {', '.join(missing)}")
        checks = deployments_check(aliases=list(aliases))
        for check in checks:
            via = check.credential or "no credential"
            line = (
                f"{check.deployment:<28} {check.model:<36} {via:<24} "
                f"{check.latency_ms:>6} ms"
            )
            if check.ok:
                self.stdout.write(self.style.SUCCESS(f"ok     {line}"))
            else:
                self.stdout.write(self.style.ERROR(f"FAILED {line}  {check.error}"))
        failed = sum(not check.ok for check in checks)
        if failed:
            raise CommandError(f"{failed} of {len(checks)} deployment(s) failed")
        self.stdout.write(f"{len(checks)} deployment(s) answered.")
