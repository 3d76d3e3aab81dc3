from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_ledger_entry(sender: Any, *, entry: Any, account: Any, **kwargs: Any) -> None:
    from alerts.services import alerts_for_ledger_entry

    alerts_for_ledger_entry(entry=entry, account=account)


def _on_budget_spent(sender: Any, **kwargs: Any) -> None:
    from alerts.services import alerts_for_budget_spend

    alerts_for_budget_spend(
        **{
            name: kwargs[name]
            for name in ("budget_id", "period_start", "used_before", "used_after")
        }
    )


def _on_team_status(
    sender: Any, *, team: Any, before: str, after: str, **kwargs: Any
) -> None:
    from alerts.services import alerts_for_team_status

    alerts_for_team_status(team=team, before=before, after=after)


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and webhooks"

    def ready(self) -> None:
        # Receivers run in the sender's transaction (see credits/signals.py): an
        # alert commits or rolls back with the change that caused it.
        from credits.signals import budget_spent, ledger_entry_written
        from teams.signals import team_status_changed

        ledger_entry_written.connect(_on_ledger_entry, dispatch_uid="alerts.ledger")
        budget_spent.connect(_on_budget_spent, dispatch_uid="alerts.budget")
        team_status_changed.connect(_on_team_status, dispatch_uid="alerts.status")
