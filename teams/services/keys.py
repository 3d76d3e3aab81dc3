"""Virtual keys: issue, rotate with a grace period, revoke.

No function ever logs or stores a plaintext key: a key is returned once, in an
IssuedKey or RotatedKey, to the caller that shows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from saas_litellm.exceptions import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
)
from teams.keys import virtual_key_digest, virtual_key_display, virtual_key_generate
from teams.models import Team, VirtualKey
from teams.services.audit import audit_log_write

DEFAULT_ROTATION_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key: the plaintext exists only in this object."""

    key: VirtualKey
    plaintext: str


def virtual_key_issue(
    *,
    team: Team,
    name: str = "default",
    expires_at: datetime | None = None,
    rotated_from: VirtualKey | None = None,
) -> IssuedKey:
    """Generate a key and store only its digest. The caller owns the transaction."""
    plaintext = virtual_key_generate()
    key = VirtualKey.objects.create(
        team=team,
        name=name,
        digest=virtual_key_digest(plaintext),
        key_prefix=virtual_key_display(plaintext),
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    return IssuedKey(key=key, plaintext=plaintext)


def virtual_key_create(
    *, team: Team, actor: str, name: str = "default", expires_at: datetime | None = None
) -> IssuedKey:
    """Issue another key for a team."""
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future")
    with transaction.atomic():
        issued = virtual_key_issue(team=team, name=name, expires_at=expires_at)
        audit_log_write(
            actor=actor,
            action="key.create",
            obj=issued.key,
            object_id=str(issued.key.key_id),
            after={
                "team_id": team.team_id,
                "name": name,
                "key_prefix": issued.key.key_prefix,
            },
        )
    return issued


@dataclass(frozen=True)
class RotatedKey:
    """The outcome of a rotation. `plaintext` is None when an idempotent retry
    returned the key a previous request issued (its plaintext was shown then)."""

    key: VirtualKey
    old_key: VirtualKey
    plaintext: str | None

    @property
    def replayed(self) -> bool:
        return self.plaintext is None


def virtual_key_get(*, team: Team, key_id: str | uuid.UUID) -> VirtualKey:
    """One of the team's keys; a malformed or unknown id (or another team's) → 404."""
    try:
        key_uuid = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(str(key_id))
    except ValueError:
        raise NotFound(f"Key '{key_id}' not found") from None
    key = VirtualKey.objects.filter(team=team, key_id=key_uuid).first()
    if key is None:
        raise NotFound(f"Key '{key_id}' not found")
    return key


def _rotation_replay(
    *, team: Team, idempotency_key: str, old_key_id: uuid.UUID, grace_seconds: int
) -> RotatedKey | None:
    previous = (
        VirtualKey.objects.select_related("rotated_from")
        .filter(team=team, idempotency_key=idempotency_key)
        .first()
    )
    if previous is None:
        return None
    if (
        previous.rotated_from is None
        or previous.rotated_from.key_id != old_key_id
        or previous.rotation_grace_seconds != grace_seconds
    ):
        raise IdempotencyMismatch()
    return RotatedKey(key=previous, old_key=previous.rotated_from, plaintext=None)


def virtual_key_rotate(
    *,
    team: Team,
    key_id: str | uuid.UUID,
    actor: str,
    grace_seconds: int = int(DEFAULT_ROTATION_GRACE.total_seconds()),
    idempotency_key: str | None = None,
) -> RotatedKey:
    """Issue a successor for a key; the old one stays valid for `grace_seconds`.

    The old key's expiry becomes the earlier of its own and now + grace (0 revokes it
    at once). A revoked, expired or already rotated key cannot be rotated (Conflict).
    With an `idempotency_key`, a retry with the same key and grace returns the key the
    first request issued, without plaintext; a different key or grace → 422.
    """
    if grace_seconds < 0:
        raise InvalidInput("grace_seconds must be 0 or more")
    old_key = virtual_key_get(team=team, key_id=key_id)
    try:
        with transaction.atomic():
            # The row lock serialises concurrent rotations (and retries) of one key.
            old_key = VirtualKey.objects.select_for_update().get(pk=old_key.pk)
            if idempotency_key is not None:
                replay = _rotation_replay(
                    team=team,
                    idempotency_key=idempotency_key,
                    old_key_id=old_key.key_id,
                    grace_seconds=grace_seconds,
                )
                if replay is not None:
                    return replay
            now = timezone.now()
            if not old_key.is_usable(now):
                raise Conflict(f"Key '{old_key.key_id}' is revoked or expired")
            if VirtualKey.objects.filter(rotated_from=old_key).exists():
                raise Conflict(f"Key '{old_key.key_id}' was already rotated")
            before = _key_state(old_key)
            if grace_seconds == 0:
                old_key.revoked_at = now
            else:
                grace_end = now + timedelta(seconds=grace_seconds)
                if old_key.expires_at is None or old_key.expires_at > grace_end:
                    old_key.expires_at = grace_end
            old_key.save(update_fields=["revoked_at", "expires_at"])
            issued = virtual_key_issue(
                team=team, name=old_key.name, rotated_from=old_key
            )
            new_key = issued.key
            new_key.idempotency_key = idempotency_key
            new_key.rotation_grace_seconds = grace_seconds
            new_key.save(update_fields=["idempotency_key", "rotation_grace_seconds"])
            audit_log_write(
                actor=actor,
                action="key.rotate",
                obj=old_key,
                object_id=str(old_key.key_id),
                before=before,
                after={
                    **_key_state(old_key),
                    "team_id": team.team_id,
                    "grace_seconds": grace_seconds,
                    "new_key_id": str(new_key.key_id),
                    "new_key_prefix": new_key.key_prefix,
                },
            )
    except IntegrityError:
        # Another request with the same Idempotency-Key (for another key) won the race.
        if idempotency_key is None:
            raise
        replay = _rotation_replay(
            team=team,
            idempotency_key=idempotency_key,
            old_key_id=old_key.key_id,
            grace_seconds=grace_seconds,
        )
        if replay is None:
            raise
        return replay
    return RotatedKey(key=new_key, old_key=old_key, plaintext=issued.plaintext)


def virtual_key_revoke(
    *, team: Team, key_id: str | uuid.UUID, actor: str
) -> VirtualKey:
    """Revoke a key at once. Revoking a revoked key changes nothing."""
    key = virtual_key_get(team=team, key_id=key_id)
    with transaction.atomic():
        key = VirtualKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        before = _key_state(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_log_write(
            actor=actor,
            action="key.revoke",
            obj=key,
            object_id=str(key.key_id),
            before=before,
            after={**_key_state(key), "team_id": team.team_id},
        )
    return key


def _key_state(key: VirtualKey) -> dict[str, Any]:
    return {
        "key_prefix": key.key_prefix,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
