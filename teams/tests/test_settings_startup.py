"""Start-up refuses weak configuration with DEBUG off; production settings pass
`check --deploy`. Each test runs `manage.py check` in a fresh process."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"
SECRET_NAMES = (
    "SECRET_KEY",
    "MASTER_KEY",
    "MASTER_KEY_NEXT",
    "VIRTUAL_KEY_PEPPER",
    "CREDENTIAL_ENCRYPTION_KEYS",
    "ADMIN_LOOPBACK_TRUST",
    "ALLOWED_HOSTS",
    "DEBUG",
)

# How schema warnings about this app's views would show: its module or its paths.
TEAMS_API_MARKS = (
    "teams/api.py",
    "'/api/organizations",
    "'/api/model",
    "'/api/provider-credentials",
    "/keys",
    "/verify",
    "/access-groups",
    "/suspend",
    "/pause",
    "/resume",
)


def random_text(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def production_env() -> dict[str, str]:
    return {
        "DEBUG": "False",
        "SECRET_KEY": random_text(60),
        "MASTER_KEY": random_text(48),
        "VIRTUAL_KEY_PEPPER": random_text(48),
        "CREDENTIAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "api.example.com",
    }


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES}
    base["DATABASE_URL"] = "sqlite:////tmp/saas-litellm-startup-check.sqlite3"
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_debug_off_without_secrets_refuses_to_start():
    result = manage("check", DEBUG="False", ALLOWED_HOSTS="api.example.com")
    assert result.returncode != 0
    for name in ("SECRET_KEY", "MASTER_KEY", "VIRTUAL_KEY_PEPPER"):
        assert f"{name} must" in result.stderr
    assert "CREDENTIAL_ENCRYPTION_KEYS must" in result.stderr


def test_debug_off_with_weak_secrets_refuses_to_start():
    weak = {
        **production_env(),
        "SECRET_KEY": "django-insecure-short",
        "MASTER_KEY": "admin",
        "CREDENTIAL_ENCRYPTION_KEYS": "not-a-fernet-key",
    }
    result = manage("check", **weak)
    assert result.returncode != 0
    assert "SECRET_KEY must" in result.stderr
    assert "MASTER_KEY must" in result.stderr
    assert "not a Fernet key" in result.stderr
    assert weak["VIRTUAL_KEY_PEPPER"] not in result.stderr


def test_a_pepper_equal_to_the_secret_key_is_refused():
    env = production_env()
    result = manage("check", **{**env, "VIRTUAL_KEY_PEPPER": env["SECRET_KEY"]})
    assert result.returncode != 0
    assert "VIRTUAL_KEY_PEPPER must differ from SECRET_KEY" in result.stderr


def test_loopback_trust_with_debug_off_refuses_to_start():
    result = manage("check", **production_env(), ADMIN_LOOPBACK_TRUST="true")
    assert result.returncode != 0
    assert "ADMIN_LOOPBACK_TRUST" in result.stderr


def test_a_weak_next_admin_key_is_refused():
    result = manage("check", **production_env(), MASTER_KEY_NEXT="short")
    assert result.returncode != 0
    assert "MASTER_KEY_NEXT must" in result.stderr


def test_production_settings_pass_the_deploy_security_checks():
    result = manage(
        "check", "--deploy", "--tag", "security", "--fail-level", "WARNING",
        **production_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_still_see_through_our_middleware_subclasses():
    # Django skips HSTS and SSL-redirect checks when it does not find its own
    # SecurityMiddleware path; ours is a subclass, and the checks must still run.
    result = manage(
        "check", "--deploy", "--tag", "security", "--fail-level", "WARNING",
        **production_env(), SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="false",
    )  # fmt: skip
    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


def test_a_missing_security_middleware_is_reported():
    from django.test import override_settings

    from saas_litellm.checks import middleware_security_checks

    middleware = [
        path for path in settings.MIDDLEWARE if not path.endswith(".SecurityMiddleware")
    ]
    with override_settings(MIDDLEWARE=middleware):
        ids = [message.id for message in middleware_security_checks(None)]
    assert "saas_litellm.W001" in ids


def test_the_deploy_schema_check_finds_nothing_in_the_teams_api():
    result = manage("check", "--deploy", **production_env())
    assert result.returncode == 0, result.stderr
    teams_lines = [
        line
        for line in result.stderr.splitlines()
        if any(mark in line for mark in TEAMS_API_MARKS)
    ]
    assert teams_lines == []
