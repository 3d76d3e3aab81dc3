"""Prepare a demo that answers offline: `python manage.py quickstart`.

Runs the migrations, then makes sure these exist (creating only what is missing, so
running it again is harmless):
- organization `org_acme` ("ACME (demo)");
- access group `gpt-models` and the alias `demo` in it, answered by litellm's
  mock_response (no provider, no network);
- team `demo-team` in org_acme with gpt-models and 1000 credits.

The demo team's virtual key is printed once, on the run that creates the team. Later
runs say how to get a new key: `python manage.py create_key demo-team`.

With DEBUG on it also creates the dashboard login `admin` (a superuser) with a random
password, printed once on the run that creates it; with DEBUG off it never does (use
`python manage.py createsuperuser`).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from credits.services import team_onboard
from teams.models import ModelAccessGroup, ModelAlias, Organization, Team
from teams.services import (
    model_access_group_create,
    model_alias_create,
    organization_create,
)

ACTOR = "cli:quickstart"
BASE_URL = "http://127.0.0.1:8003"
ORGANIZATION_ID = "org_acme"
GROUP = "gpt-models"
ALIAS = "demo"
TEAM_ID = "demo-team"
DEMO_ANSWER = "Hello from the SaaS LiteLLM demo model."
ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create a demo organization, team, key and offline model alias."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not Organization.objects.filter(organization_id=ORGANIZATION_ID).exists():
            organization_create(
                organization_id=ORGANIZATION_ID, name="ACME (demo)", actor=ACTOR
            )
        if not ModelAccessGroup.objects.filter(group_name=GROUP).exists():
            model_access_group_create(
                actor=ACTOR, group_name=GROUP, display_name="GPT models"
            )
        if not ModelAlias.objects.filter(model_alias=ALIAS).exists():
            model_alias_create(
                actor=ACTOR,
                model_alias=ALIAS,
                display_name="Demo model (offline)",
                provider="openai",
                actual_model="openai/gpt-4o-mini",
                mock_response=DEMO_ANSWER,
                access_groups=[GROUP],
            )
        self.stdout.write(f"Base URL: {BASE_URL}")
        self.stdout.write(f"Team:     {TEAM_ID} (organization {ORGANIZATION_ID})")
        self.stdout.write(f"Model:    {ALIAS} (answers offline)")
        if settings.DEBUG:
            self.demo_admin_create()
        if Team.objects.filter(team_id=TEAM_ID).exists():
            self.stdout.write(
                "The team's key was shown on the first run. For a new one: "
                f"python manage.py create_key {TEAM_ID}"
            )
            return
        onboarded = team_onboard(
            organization_id=ORGANIZATION_ID,
            team_id=TEAM_ID,
            team_alias="Demo team",
            access_groups=[GROUP],
            credits_allocated=1000,
            actor=ACTOR,
        )
        self.stdout.write(f"Key:      {onboarded.issued.plaintext}")
        self.stdout.write("Store this key now: it is not shown again.")

    def demo_admin_create(self) -> None:
        """The dashboard login of a development checkout, password shown once."""
        users = get_user_model()
        if users.objects.filter(username=ADMIN_USERNAME).exists():
            self.stdout.write(
                f"Admin:    {BASE_URL}/admin/ as '{ADMIN_USERNAME}' (password shown on "
                f"the first run; to reset it: python manage.py changepassword "
                f"{ADMIN_USERNAME})"
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(ADMIN_USERNAME, "", password)
        self.stdout.write(
            f"Admin:    {BASE_URL}/admin/ as '{ADMIN_USERNAME}', password {password} "
            "(development only; not shown again)"
        )
