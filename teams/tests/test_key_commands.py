from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from teams.keys import virtual_key_is_well_formed
from teams.models import AuditLog, VirtualKey
from teams.services import virtual_key_create

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def works(plaintext: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client.get("/api/teams/verify").status_code == 200


def test_create_key_prints_a_working_key_once(team):
    out, err = run("create_key", "acme-corp", "--name", "ci", "--expires", "30d")
    plaintext = out.strip().splitlines()[-1]
    assert virtual_key_is_well_formed(plaintext)
    assert works(plaintext)
    assert "will not be shown again" in err
    assert AuditLog.objects.get(action="key.create", after__name="ci").actor.startswith(
        "cli:"
    )


def test_create_key_accepts_an_iso_expiry(team):
    run("create_key", "acme-corp", "--expires", "2099-01-01T00:00:00Z")
    assert team.keys.filter(expires_at__year=2099).exists()


@pytest.mark.parametrize(
    "expires", ["tomorrow", "2099-01-01T00:00:00", "1999-01-01T00:00:00Z"]
)
def test_create_key_refuses_a_bad_expiry(team, expires):
    with pytest.raises(CommandError):
        run("create_key", "acme-corp", "--expires", expires)
    assert team.keys.count() == 1


def test_commands_refuse_an_unknown_team(db):
    for args in (
        ["create_key", "nope"],
        ["rotate_key", "nope"],
        ["revoke_key", "nope", "--key", "x"],
        ["list_keys", "nope"],
    ):
        with pytest.raises(CommandError, match="Team 'nope' not found"):
            run(*args)


def test_list_keys_shows_display_forms_and_status(team, team_key, issued_team_key):
    out, _ = run("list_keys", "acme-corp")
    assert issued_team_key.key.key_prefix in out
    assert "active" in out
    assert team_key not in out


def test_rotate_key_rotates_the_only_usable_key(team, issued_team_key):
    out, _ = run("rotate_key", "acme-corp", "--grace", "90m")
    new_plaintext = out.strip().splitlines()[-1]
    assert works(new_plaintext)
    assert works(issued_team_key.plaintext)
    new_key = VirtualKey.objects.get(rotated_from=issued_team_key.key)
    assert new_key.rotation_grace_seconds == 5400


def test_rotate_key_with_zero_grace_revokes_the_old_key(team, issued_team_key):
    run("rotate_key", "acme-corp", "--grace", "0")
    assert not works(issued_team_key.plaintext)


def test_rotate_key_asks_for_key_when_several_are_usable(team):
    virtual_key_create(team=team, actor="t", name="second")
    with pytest.raises(CommandError, match="--key"):
        run("rotate_key", "acme-corp")
    assert team.keys.count() == 2


def test_rotate_key_with_key_picks_that_key(team, issued_team_key):
    second = virtual_key_create(team=team, actor="t", name="second")
    run("rotate_key", "acme-corp", "--key", str(second.key.key_id))
    assert VirtualKey.objects.filter(rotated_from=second.key).exists()
    assert not VirtualKey.objects.filter(rotated_from=issued_team_key.key).exists()


def test_rotate_key_dry_run_changes_nothing(team, issued_team_key):
    out, _ = run("rotate_key", "acme-corp", "--dry-run")
    assert "Would rotate" in out
    assert team.keys.count() == 1
    issued_team_key.key.refresh_from_db()
    assert issued_team_key.key.expires_at is None


@pytest.mark.parametrize("grace", ["soon", "-5", "1w"])
def test_rotate_key_refuses_a_bad_grace(team, grace):
    with pytest.raises(CommandError, match="Invalid duration"):
        run("rotate_key", "acme-corp", "--grace", grace)


def test_rotate_key_refuses_an_unknown_key(team):
    with pytest.raises(CommandError, match="not found"):
        run("rotate_key", "acme-corp", "--key", "00000000-0000-0000-0000-000000000000")


def test_revoke_key_revokes_at_once(team, issued_team_key):
    out, _ = run("revoke_key", "acme-corp", "--key", str(issued_team_key.key.key_id))
    assert "Revoked" in out
    assert not works(issued_team_key.plaintext)
    assert AuditLog.objects.get(action="key.revoke").actor.startswith("cli:")


def test_revoke_key_refuses_a_malformed_key(team):
    with pytest.raises(CommandError, match="not found"):
        run("revoke_key", "acme-corp", "--key", "abc")


def test_revoke_key_refuses_another_teams_key(team, other_team):
    with pytest.raises(CommandError):
        run("revoke_key", "acme-corp", "--key", str(other_team.keys.get().key_id))
    assert other_team.keys.get().revoked_at is None
