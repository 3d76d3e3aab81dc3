from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _on_ledger_entry(sender: Any, *, entry: Any, account: Any, **kwargs: Any) -> None:
    from alerts.services import alerts_for_ledger_entry

    alerts_for_ledger_entry(entry=entry, account=account)


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
        from credits.signals import ledger_entry_written
        from teams.signals import team_status_changed

        ledger_entry_written.connect(_on_ledger_entry, dispatch_uid="alerts.ledger")
        team_status_changed.connect(_on_team_status, dispatch_uid="alerts.status")
