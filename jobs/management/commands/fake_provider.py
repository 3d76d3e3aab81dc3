"""Run the fake OpenAI-compatible provider on 127.0.0.1 (see jobs/fake_provider.py).

    python manage.py fake_provider --port 8090 [--latency 0.2] [--chunks 8]
        [--chunk-delay 0.05]

Point an alias at it with actual_model `openai/fake-echo` (or fake-slow,
fake-fail-429, fake-fail-500, fake-timeout, fake-break-stream) and api_base
`http://127.0.0.1:<port>/v1`.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.fake_provider import FakeBehaviour, fake_provider_start


class Command(BaseCommand):
    help = "Serve a fake OpenAI-compatible chat completions API on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument("--latency", type=float, default=0.0)
        parser.add_argument("--chunks", type=int, default=4)
        parser.add_argument("--chunk-delay", type=float, default=0.0)

    def handle(self, *args: Any, **options: Any) -> None:
        behaviour = FakeBehaviour(
            latency=options["latency"],
            chunks=options["chunks"],
            chunk_delay=options["chunk_delay"],
        )
        provider = fake_provider_start(port=options["port"], behaviour=behaviour)
        self.stdout.write(f"Fake provider on {provider.api_base} (Ctrl-C stops it)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            provider.stop()
