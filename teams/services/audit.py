"""The audit log of admin actions: who changed what, and when. Never a secret."""

from __future__ import annotations

from typing import Any

from teams.models import AuditLog


def audit_log_write(
    *,
    actor: str,
    action: str,
    obj: Any,
    object_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Record an admin action. Callers pass only non-secret fields."""
    return AuditLog.objects.create(
        actor=str(actor)[:200],
        action=action,
        object_type=type(obj).__name__,
        object_id=str(object_id),
        before=before,
        after=after,
    )
