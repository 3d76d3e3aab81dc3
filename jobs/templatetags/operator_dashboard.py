"""`{% operator_dashboard as dashboard %}`: the admin home's numbers and charts;
`{% recent_audit_log as entries %}`: its "Recent actions", from the audit log.

A template tag rather than a custom AdminSite: every ModelAdmin keeps registering on
the default `admin.site`, and `templates/admin/index.html` asks for the numbers only
where it shows them.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib import admin

from jobs.dashboard import daily_charts, dashboard_stats
from teams.models import AuditLog

register = template.Library()


@register.simple_tag
def operator_dashboard() -> dict[str, Any]:
    stats = dashboard_stats()
    return {**stats, "charts": daily_charts(stats["daily"])}


@register.simple_tag(takes_context=True)
def recent_audit_log(context: dict[str, Any]) -> list[AuditLog] | None:
    """The newest audit entries (the services write every change there, from the
    API and the admin alike; Django's LogEntry stays empty); None for a user who
    may not read the audit log."""
    return admin.site.get_model_admin(AuditLog).recent_entries(context["request"])
