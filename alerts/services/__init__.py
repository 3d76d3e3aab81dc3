"""Writes of the alerts app. Every function owns its transaction or, where it is
called by another app's service (a ledger entry, a team's status), writes in that
service's transaction under its lock.

- rules: per-team alert rules, when an alert fires, and `alert_fire`, the one way
  an alert is written
- webhooks: endpoints, and the delivery of events to them
- schedule: maintenance run by the workers, once per slot
"""

from alerts.services.rules import (
    KEY_EXPIRY_WARNING,
    TeamAlertRules,
    alert_fire,
    alert_rules_get,
    alert_rules_set,
    alerts_for_budget_spend,
    alerts_for_ledger_entry,
    alerts_for_team_status,
    keys_expiring_alert,
    reconcile_alert,
)
from alerts.services.schedule import (
    SCHEDULES,
    schedule_run_execute,
    schedules_enqueue_due,
    slot_start,
)
from alerts.services.webhooks import (
    CreatedWebhook,
    retry_delay,
    webhook_deliveries_create,
    webhook_deliveries_sweep,
    webhook_delivery_run,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_get,
    webhook_endpoints_active,
    webhook_payload,
)

__all__ = [
    "KEY_EXPIRY_WARNING",
    "SCHEDULES",
    "CreatedWebhook",
    "TeamAlertRules",
    "alert_fire",
    "alert_rules_get",
    "alert_rules_set",
    "alerts_for_budget_spend",
    "alerts_for_ledger_entry",
    "alerts_for_team_status",
    "keys_expiring_alert",
    "reconcile_alert",
    "retry_delay",
    "schedule_run_execute",
    "schedules_enqueue_due",
    "slot_start",
    "webhook_deliveries_create",
    "webhook_deliveries_sweep",
    "webhook_delivery_run",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_get",
    "webhook_endpoints_active",
    "webhook_payload",
]
