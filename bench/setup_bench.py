"""Create the benchmark's tenant through the real services; print its key as JSON.

    DATABASE_URL=… python bench/setup_bench.py <instant port> <slow port> <long port>

Organization, access group, a provider credential (stored encrypted), four aliases
(`bench` → the instant fake provider, `bench-slow` → the 300 ms one, `bench-long`
→ one whose streams last 30 s, `bench-pool` → three deployments of the instant
one) and a team with
plenty of credits and a virtual key. Run by `bench/run.py` on its throwaway database.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas_litellm.settings")

import django

django.setup()

from credits.services import MAX_CREDITS_PER_OPERATION, team_onboard  # noqa: E402
from teams.services import (  # noqa: E402
    model_access_group_create,
    model_alias_create,
    organization_create,
    provider_credential_create,
)

ACTOR = "bench:setup"


def main(instant_port: int, slow_port: int, long_port: int) -> dict[str, str]:
    organization = organization_create(
        organization_id="org_bench", name="Benchmark", actor=ACTOR
    )
    model_access_group_create(actor=ACTOR, group_name="bench", display_name="Bench")
    provider_credential_create(
        actor=ACTOR,
        provider="openai",
        credential_name="fake-provider",
        api_key="sk-fake-bench-provider-key",
        organization=organization,
    )
    for alias, port in (
        ("bench", instant_port),
        ("bench-slow", slow_port),
        ("bench-long", long_port),
    ):
        model_alias_create(
            actor=ACTOR,
            model_alias=alias,
            display_name=alias,
            provider="openai",
            actual_model="openai/fake-echo",
            api_base=f"http://127.0.0.1:{port}/v1",
            credential="fake-provider",
            access_groups=["bench"],
        )
    # Scenario 9: one alias over three deployments (the instant provider behind
    # each), spread by weight.
    instant = {
        "actual_model": "openai/fake-echo",
        "api_base": f"http://127.0.0.1:{instant_port}/v1",
        "credential": "fake-provider",
    }
    model_alias_create(
        actor=ACTOR,
        model_alias="bench-pool",
        display_name="bench-pool",
        provider="openai",
        deployments=[instant, instant, instant],
        access_groups=["bench"],
    )
    onboarded = team_onboard(
        organization_id="org_bench",
        team_id="bench-team",
        team_alias="Benchmark team",
        access_groups=["bench"],
        credits_allocated=MAX_CREDITS_PER_OPERATION,
        actor=ACTOR,
    )
    return {"team_id": "bench-team", "key": onboarded.issued.plaintext}


if __name__ == "__main__":
    ports = (int(port) for port in sys.argv[1:4])
    sys.stdout.write(json.dumps(main(*ports)))
