"""`{% operator_dashboard as dashboard %}`: the admin home's numbers and charts.

A template tag rather than a custom AdminSite: every ModelAdmin keeps registering on
the default `admin.site`, and `templates/admin/index.html` asks for the numbers only
where it shows them.
"""

from __future__ import annotations

from typing import Any

from django import template

from jobs.dashboard import daily_charts, dashboard_stats

register = template.Library()


@register.simple_tag
def operator_dashboard() -> dict[str, Any]:
    stats = dashboard_stats()
    return {**stats, "charts": daily_charts(stats["daily"])}
