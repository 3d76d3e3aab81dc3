"""quickstart's demo dashboard login: DEBUG on only, password printed once."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

PASSWORD_LINE = re.compile(r"as 'admin', password (\S+) ")


@pytest.fixture(autouse=True)
def fast_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run() -> str:
    out = StringIO()
    call_command("quickstart", stdout=out)
    return out.getvalue()


def test_with_debug_on_quickstart_prints_a_working_admin_password_once(db, settings):
    settings.DEBUG = True
    password = PASSWORD_LINE.search(run()).group(1)
    user = authenticate(username="admin", password=password)
    assert user is not None
    assert user.is_superuser
    second = run()
    assert password not in second
    assert "changepassword admin" in second
    assert get_user_model().objects.count() == 1


def test_with_debug_off_quickstart_creates_no_admin_login(db, settings):
    settings.DEBUG = False
    output = run()
    assert "password" not in output
    assert not get_user_model().objects.exists()
