"""Alert rules: when an alert fires, and the one way it is written (`alert_fire`).

Why a signal and not a call: `credits` may not import `alerts` (imports run
jobs → credits → teams, and alerts sits above them all). `credits.services` sends
`ledger_entry_written` from its one place that appends ledger entries, inside the
transaction and under the account row lock; the receiver (alerts/apps.py) calls
`alerts_for_ledger_entry` here. The rule stays in one place, this module, and an
alert commits or rolls back with the entry that caused it.

Periods (what "once" means):
- allocation thresholds and low credits: from one change of the allocation
  (allocation, replenishment or adjustment entry) to the next. A top-up starts a new
  period, so the 80 % alert can fire again after it; a refund that takes usage back
  under 80 % and a charge that crosses it again in the same period do not.
  An alert fires on a crossing (usage moves from below the threshold to at or above
  it, in one entry), so a top-up that leaves the team above 80 % does not repeat the
  80 % alert at once: it fires again when usage next crosses it.
- team suspended: each suspension (a team that is suspended, resumed and suspended
  again alerts twice).
- key expiring: one per key and expiry date (a new expiry, a new alert).

- key and end-user budgets: each budget period (`alerts_for_budget_spend`, sent by
  credits.services.budgets through the `budget_spent` signal, the same way).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import (
    DEFAULT_THRESHOLDS_PERCENT,
    AlertEvent,
    AlertSettings,
    EventType,
)
from credits.models import Budget, CreditAccount, EntryType, LedgerEntry
from credits.services import CREDIT_ENTRY_TYPES
from saas_litellm import sql
from saas_litellm.exceptions import InvalidInput
from teams.models import Organization, Team, TeamStatus, VirtualKey
from teams.services import audit_log_write

logger = logging.getLogger(__name__)

KEY_EXPIRY_WARNING = timedelta(days=7)
BUDGET_THRESHOLDS_PERCENT = (80, 100)
MAX_THRESHOLDS = 10


@dataclass(frozen=True)
class TeamAlertRules:
    thresholds_percent: list[int]
    low_credits: int | None


# Team pk -> (catalogue version, its rules), per process: a charge reads no rules
# while the version read with the caller's key is the one they were read under
# (alert rules move it: alerts/migrations/0003_alert_rules_version.py).
_rules_read: dict[int, tuple[int, TeamAlertRules]] = {}
_RULES_READ_MAX = 10_000


def alert_rules_get(*, team: Team) -> TeamAlertRules:
    """A team's rules: its own, or the defaults (50/80/95 %, no low-credits rule).
    Read on every charge, under the account row's lock, so written out (see
    saas_litellm.sql) and kept per process while `team.catalogue_version` (set by
    authentication) is unchanged."""
    version = team.catalogue_version
    if version is not None:
        kept = _rules_read.get(team.pk)
        if kept is not None and kept[0] == version:
            return kept[1]
    found = sql.rows(
        "SELECT thresholds_percent, low_credits FROM alerts_alertsettings"
        " WHERE team_id = %s",
        [team.pk],
    )
    if not found:
        rules = TeamAlertRules(list(DEFAULT_THRESHOLDS_PERCENT), None)
    else:
        ((thresholds, low_credits),) = found
        thresholds = sql.read(AlertSettings, "thresholds_percent", thresholds)
        rules = TeamAlertRules(list(thresholds), low_credits)
    if version is not None:
        if len(_rules_read) >= _RULES_READ_MAX:
            _rules_read.clear()
        _rules_read[team.pk] = (version, rules)
    return rules


def alert_rules_set(
    *,
    team: Team,
    thresholds_percent: list[int],
    low_credits: int | None,
    actor: str,
) -> TeamAlertRules:
    """Replace a team's alert rules (audit-logged). Thresholds are whole percents
    from 1 to 100, at most ten; an empty list turns the allocation alerts off."""
    if len(thresholds_percent) > MAX_THRESHOLDS:
        raise InvalidInput(f"at most {MAX_THRESHOLDS} thresholds")
    for value in thresholds_percent:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 1 <= value <= 100
        ):
            raise InvalidInput("thresholds_percent must be whole numbers from 1 to 100")
    if low_credits is not None and (
        isinstance(low_credits, bool) or not isinstance(low_credits, int)
    ):
        raise InvalidInput("low_credits must be a whole number or null")
    if low_credits is not None and not 0 <= low_credits <= 10**12:
        raise InvalidInput("low_credits must be from 0 to 10^12")
    thresholds = sorted(set(thresholds_percent))
    with transaction.atomic():
        before = alert_rules_get(team=team)
        AlertSettings.objects.update_or_create(
            team=team,
            defaults={"thresholds_percent": thresholds, "low_credits": low_credits},
        )
        audit_log_write(
            actor=actor,
            action="alerts.rules.set",
            obj=team,
            object_id=team.team_id,
            before={
                "thresholds_percent": before.thresholds_percent,
                "low_credits": before.low_credits,
            },
            after={"thresholds_percent": thresholds, "low_credits": low_credits},
        )
    return TeamAlertRules(thresholds, low_credits)


def alert_fire(
    *,
    event_type: str,
    rule: str,
    period: str,
    data: dict[str, Any],
    team: Team | None = None,
    organization: Organization | None = None,
) -> AlertEvent | None:
    """Write an alert event and its webhook deliveries, and enqueue their delivery,
    in the caller's transaction. None when (team, rule, period) already fired.

    The caller should hold the lock that serialises the rule's writers (the account
    row for credit rules), which makes the existence check exact; the unique
    constraint backs it where it does not (a savepoint absorbs the duplicate, so the
    caller's transaction stays usable).
    """
    from alerts.services.webhooks import webhook_deliveries_create

    existing = AlertEvent.objects.filter(rule=rule, period=period)
    existing = existing.filter(team=team) if team else existing.filter(team=None)
    if existing.exists():
        return None
    if team is not None and organization is None:
        organization = Organization(pk=team.organization_id)
    try:
        with transaction.atomic():
            event = AlertEvent.objects.create(
                event_type=event_type,
                team=team,
                organization=organization,
                rule=rule,
                period=period,
                data=data,
            )
    except IntegrityError:
        return None
    webhook_deliveries_create(event=event)
    logger.info(
        "alert %s %s for %s (%s)",
        event.event_id,
        event_type,
        team.team_id if team else "operator",
        rule,
    )
    return event


def _period_of(entry: LedgerEntry) -> str | None:
    """The id of the entry that last set the allocation: the current period."""
    if entry.entry_type in CREDIT_ENTRY_TYPES:
        return f"allocation:{entry.pk}"
    latest = (
        LedgerEntry.objects.filter(
            account_id=entry.account_id, entry_type__in=CREDIT_ENTRY_TYPES
        )
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    return None if latest is None else f"allocation:{latest}"


def alerts_for_ledger_entry(
    *, entry: LedgerEntry, account: CreditAccount
) -> list[AlertEvent]:
    """The credit alerts one ledger entry fires; called by the ledger, in its
    transaction, with `account` locked and as the entry left it."""
    allocated_after = account.credits_allocated
    used_after = account.credits_used
    changes_allocation = entry.entry_type in CREDIT_ENTRY_TYPES
    changes_usage = entry.entry_type in (EntryType.DEDUCTION, EntryType.REFUND)
    allocated_before = allocated_after - (entry.amount if changes_allocation else 0)
    # A deduction's amount is negative and a refund's positive: usage moves the
    # other way.
    used_before = used_after + (entry.amount if changes_usage else 0)
    if entry.amount > 0 or allocated_after <= 0:
        # Credits in (allocation, top-up, refund) only move usage down and the
        # balance up: nothing to cross, and no query on their path.
        return []
    # The request's team (with the catalogue version it read) where the account
    # came with it.
    cached = CreditAccount.team.is_cached(account)
    team = account.team if cached else Team(pk=account.team_id)
    rules = alert_rules_get(team=team)
    crossed = [
        threshold
        for threshold in rules.thresholds_percent
        if used_after * 100 >= threshold * allocated_after
        and (allocated_before <= 0 or used_before * 100 < threshold * allocated_before)
    ]
    low = rules.low_credits is not None and (
        entry.balance_after < rules.low_credits <= entry.balance_before
    )
    if not crossed and not low:
        return []
    period = _period_of(entry)
    if period is None:
        return []
    team = Team.objects.select_related("organization").get(pk=account.team_id)
    common = {
        "team_id": team.team_id,
        "credits_allocated": allocated_after,
        "credits_used": used_after,
        "credits_remaining": account.credits_remaining,
        "balance": account.balance,
    }
    fired = [
        alert_fire(
            event_type=EventType.THRESHOLD_CROSSED,
            team=team,
            organization=team.organization,
            rule=f"threshold:{threshold}",
            period=period,
            data={**common, "threshold_percent": threshold},
        )
        for threshold in crossed
    ]
    if low:
        fired.append(
            alert_fire(
                event_type=EventType.LOW_CREDITS,
                team=team,
                organization=team.organization,
                rule="low_credits",
                period=period,
                data={**common, "low_credits": rules.low_credits},
            )
        )
    return [event for event in fired if event is not None]


def alerts_for_budget_spend(
    *, budget_id: int, period_start: datetime, used_before: int, used_after: int
) -> list[AlertEvent]:
    """`key.budget_threshold_crossed` / `end_user.budget_threshold_crossed` when a
    charge takes a key's or an end user's budget to 80 % or 100 % in its period;
    called in the charge's transaction, under the team's account row lock."""
    budget = (
        Budget.objects.select_related("team__organization", "key")
        .filter(pk=budget_id)
        .first()
    )
    if budget is None or budget.credits <= 0:
        return []
    crossed = [
        threshold
        for threshold in BUDGET_THRESHOLDS_PERCENT
        if used_before * 100 < threshold * budget.credits <= used_after * 100
    ]
    team = budget.team
    whose: dict[str, Any] = (
        {"key_id": str(budget.key.key_id), "name": budget.key.name}
        if budget.key is not None
        else {"user_id": budget.user_id}
    )
    fired = [
        alert_fire(
            event_type=EventType.KEY_BUDGET_THRESHOLD
            if budget.key is not None
            else EventType.USER_BUDGET_THRESHOLD,
            team=team,
            organization=team.organization,
            rule=f"budget:{budget.pk}:{threshold}",
            period=period_start.isoformat(),
            data={
                "team_id": team.team_id,
                **whose,
                "threshold_percent": threshold,
                "credits_limit": budget.credits,
                "credits_spent": used_after,
                "period": budget.period or None,
                "period_start": period_start.isoformat(),
            },
        )
        for threshold in crossed
    ]
    return [event for event in fired if event is not None]


def alerts_for_team_status(*, team: Team, before: str, after: str) -> AlertEvent | None:
    """`team.suspended` when a team becomes suspended; called by the teams service
    in its transaction, with the team row locked."""
    if after != TeamStatus.SUSPENDED or before == TeamStatus.SUSPENDED:
        return None
    return alert_fire(
        event_type=EventType.TEAM_SUSPENDED,
        team=team,
        rule="team_suspended",
        period=f"suspended:{team.updated_at.isoformat()}",
        data={"team_id": team.team_id, "status": after, "previous_status": before},
    )


def keys_expiring_alert(*, now: datetime | None = None) -> int:
    """`key.expiring` for each usable key that expires within 7 days (keys being
    rotated out are left alone: their successor is issued). Count fired returned."""
    now = now or timezone.now()
    keys = (
        VirtualKey.objects.usable()
        .filter(expires_at__lte=now + KEY_EXPIRY_WARNING, rotated_to__isnull=True)
        .select_related("team__organization")
        .order_by("expires_at")
    )
    fired = 0
    for key in keys:
        with transaction.atomic():
            event = alert_fire(
                event_type=EventType.KEY_EXPIRING,
                team=key.team,
                organization=key.team.organization,
                rule=f"key_expiring:{key.key_id}",
                period=key.expires_at.isoformat(),
                data={
                    "team_id": key.team.team_id,
                    "key_id": str(key.key_id),
                    "name": key.name,
                    "key_prefix": key.key_prefix,
                    "expires_at": key.expires_at.isoformat(),
                },
            )
        fired += event is not None
    return fired


def reconcile_alert(*, report: dict[str, list[str]], period: str) -> AlertEvent | None:
    """The operator's alert when accounts do not reconcile (sent to endpoints that
    have neither a team nor an organization)."""
    if not report:
        return None
    logger.error("credits do not reconcile for %d team(s)", len(report))
    with transaction.atomic():
        return alert_fire(
            event_type=EventType.RECONCILE_FAILED,
            rule="reconcile",
            period=period,
            data={"teams": dict(list(report.items())[:100])},
        )
