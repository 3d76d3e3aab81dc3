"""Budgets inside a team: a credit limit on one key or one end user, per calendar
period (day, week, month in the team's time zone) or for all time.

They ride on the team's holds (credits.services.holds), so they are exact the same
way as the pool: when a job's hold opens it also reserves in the budget periods of
the job's key and end user (one conditional statement each), growing the hold grows
those reservations, and the capture or release moves them as it moves the account's.
The hold remembers which periods it reserved in (a job started on Monday is counted
on Monday, whenever it ends). Every statement here runs under the team's account row
lock, which the hold functions take first: budget rows need no lock of their own.

A period starts again exactly at its boundary because it is computed from the clock
(`period_bounds`): a new period is a new BudgetSpend row, written by the first
reservation in it. Nothing resets anything.

What a budget counts starts when it is set; removing a budget forgets it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from credits.models import Budget, BudgetPeriod, BudgetSpend, CreditAccount
from credits.signals import budget_spent
from saas_litellm import sql
from saas_litellm.exceptions import (
    BudgetExceeded,
    InvalidInput,
    KeyBudgetExceeded,
    NotFound,
    UserBudgetExceeded,
)
from teams.models import Team, VirtualKey
from teams.services import audit_log_write

# The period_start of a budget without a period.
ALL_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_BUDGET_CREDITS = 10**12
USER_ID_MAX_LENGTH = 200


def period_bounds(
    period: str, time_zone: str, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime | None]:
    """The period holding `now`: its start and its end (None: no end), in UTC.
    Days start at local midnight, weeks on Monday, months on the 1st."""
    if not period:
        return ALL_TIME, None
    zone = zoneinfo.ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    if period == BudgetPeriod.DAY:
        start, end = today, today + dt.timedelta(days=1)
    elif period == BudgetPeriod.WEEK:
        start = today - dt.timedelta(days=today.weekday())
        end = start + dt.timedelta(days=7)
    else:
        start = today.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)

    return midnight(start), midnight(end)


def _refusal(
    budget_period: str, team: Team, key_id: Any, now: dt.datetime
) -> BudgetExceeded:
    _, end = period_bounds(budget_period, team.timezone, now)
    retry_after = None if end is None else (end - now).total_seconds()
    refused = KeyBudgetExceeded if key_id is not None else UserBudgetExceeded
    return refused(retry_after=retry_after)


# --- Called by the holds, under the account lock -----------------------------------


def budgets_reserve(
    *, team: Team, key_id: int | None, user_id: str, credits: int, now: dt.datetime
) -> tuple[int | None, int | None]:
    """Reserve `credits` in the current period of the key's and the end user's
    budgets (those that exist); answers the two BudgetSpend ids (None: no budget).
    Raises KeyBudgetExceeded / UserBudgetExceeded (the caller's transaction then
    rolls back the pool's reservation too). `team` must be fresh: its
    `sub_budgets` flag skips the lookup for teams without budgets."""
    if not team.sub_budgets or (key_id is None and not user_id):
        return None, None
    found = sql.rows(
        "SELECT id, key_id, credits, period FROM credits_budget WHERE team_id = %s"
        " AND (key_id = %s OR (key_id IS NULL AND user_id = %s))",
        [team.pk, key_id, user_id],
    )
    spends: dict[bool, int] = {}
    for budget_id, budget_key_id, limit, budget_period in found:
        start, _ = period_bounds(budget_period, team.timezone, now)
        # The period's row, created by its first reservation; either way the
        # reservation only when it fits.
        taken = sql.rows(
            "INSERT INTO credits_budgetspend (budget_id, period_start, used, reserved)"
            " SELECT %s, %s, 0, %s WHERE %s <= %s"
            " ON CONFLICT (budget_id, period_start) DO UPDATE"
            " SET reserved = credits_budgetspend.reserved + excluded.reserved"
            " WHERE credits_budgetspend.used + credits_budgetspend.reserved"
            " + excluded.reserved <= %s"
            " RETURNING id",
            [
                budget_id,
                sql.value(BudgetSpend, "period_start", start),
                credits,
                credits,
                limit,
                limit,
            ],
        )
        if not taken:
            raise _refusal(budget_period, team, budget_key_id, now)
        spends[budget_key_id is not None] = taken[0][0]
    return spends.get(True), spends.get(False)


def budgets_grow(
    *, team: Team, spend_ids: tuple[int | None, int | None], credits: int
) -> None:
    """Reserve `credits` more in the periods a hold already reserves in."""
    for spend_id in spend_ids:
        if spend_id is None:
            continue
        grown = sql.rows(
            "UPDATE credits_budgetspend SET reserved = reserved + %s WHERE id = %s"
            " AND used + reserved + %s <= (SELECT credits FROM credits_budget"
            " WHERE credits_budget.id = credits_budgetspend.budget_id)"
            " RETURNING id",
            [credits, spend_id, credits],
        )
        if not grown:
            budget = Budget.objects.only("key_id", "period").get(spends__id=spend_id)
            raise _refusal(budget.period, team, budget.key_id, timezone.now())


def budgets_room(spend_ids: tuple[int | None, int | None]) -> int | None:
    """The least any of these periods has left beyond what is used and held (None:
    no budget). A lowered limit can leave less than nothing: 0 then."""
    if spend_ids == (None, None):
        return None
    found = sql.rows(
        "SELECT MIN(b.credits - s.used - s.reserved) FROM credits_budgetspend s"
        " JOIN credits_budget b ON b.id = s.budget_id WHERE s.id IN (%s, %s)",
        list(spend_ids),
    )
    room = found[0][0]
    return None if room is None else max(0, room)


def budgets_settle(
    *, spend_ids: tuple[int | None, int | None], held: int, charged: int
) -> None:
    """A hold of `held` credits closes, charging `charged` (0 for a release)."""
    if spend_ids == (None, None) or (held == 0 and charged == 0):
        return
    settled = sql.rows(
        "UPDATE credits_budgetspend SET reserved = reserved - %s, used = used + %s"
        " WHERE id IN (%s, %s) RETURNING budget_id, period_start, used",
        [held, charged, *spend_ids],
    )
    if charged:
        for budget_id, period_start, used in settled:
            budget_spent.send(
                sender=Budget,
                budget_id=budget_id,
                period_start=sql.read(BudgetSpend, "period_start", period_start),
                used_before=used - charged,
                used_after=used,
            )


# --- The operator's and the key's view ---------------------------------------------


@dataclass(frozen=True)
class BudgetState:
    """A budget as the API shows it (`credits` None: no budget)."""

    credits: int | None
    period: str | None
    spent: int
    remaining: int | None
    resets_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "credits": self.credits,
            "period": self.period,
            "spent": self.spent,
            "remaining": self.remaining,
            "resets_at": self.resets_at,
        }


NO_BUDGET = BudgetState(
    credits=None, period=None, spent=0, remaining=None, resets_at=None
)


def _state(budget: Budget | None, team: Team, now: dt.datetime) -> BudgetState:
    if budget is None:
        return NO_BUDGET
    start, end = period_bounds(budget.period, team.timezone, now)
    spend = BudgetSpend.objects.filter(budget=budget, period_start=start).first()
    used, reserved = (spend.used, spend.reserved) if spend else (0, 0)
    return BudgetState(
        credits=budget.credits,
        period=budget.period or None,
        spent=used,
        remaining=max(0, budget.credits - used - reserved),
        resets_at=end,
    )


def _budget_of(
    team: Team, key: VirtualKey | None, user_id: str | None
) -> Budget | None:
    if key is not None:
        return Budget.objects.filter(team=team, key=key).first()
    return Budget.objects.filter(team=team, key=None, user_id=user_id).first()


def _holder_check(team: Team, key: VirtualKey | None, user_id: str | None) -> None:
    """A key of `team`, or else an end-user id."""
    if key is not None:
        if key.team_id != team.pk:
            raise NotFound("Key not found")
    elif not user_id or len(user_id) > USER_ID_MAX_LENGTH or "\x00" in user_id:
        raise InvalidInput(f"user_id: 1 to {USER_ID_MAX_LENGTH} characters")


def budget_get(
    *, team: Team, key: VirtualKey | None = None, user_id: str | None = None
) -> BudgetState:
    """A key's budget (key of `team`) or an end user's, with this period's spend."""
    _holder_check(team, key, user_id)
    return _state(_budget_of(team, key, user_id), team, timezone.now())


def key_self(*, key: VirtualKey) -> dict[str, Any]:
    """What a key may read about itself (`GET /api/keys/self`, `GET /v1/key`): never
    the key, nor anything of its team's but its id."""
    state = budget_get(team=key.team, key=key)
    return {
        "key_id": key.key_id,
        "name": key.name,
        "key_prefix": key.key_prefix,
        "team_id": key.team.team_id,
        "expires_at": key.expires_at,
        "budget": None if state.credits is None else state.as_dict(),
    }


def budget_check(
    *,
    team: Team,
    credits: int | None,
    period: str | None,
    key: VirtualKey | None = None,
    user_id: str | None = None,
) -> None:
    """What budget_set refuses (InvalidInput, NotFound), checked without writing
    (the admin's form shows it beside the fields)."""
    _holder_check(team, key, user_id)
    if credits is not None and (
        isinstance(credits, bool)
        or not isinstance(credits, int)
        or not 0 <= credits <= MAX_BUDGET_CREDITS
    ):
        raise InvalidInput(
            f"credits must be a whole number from 0 to {MAX_BUDGET_CREDITS}"
        )
    if period not in (None, "", *BudgetPeriod.values):
        raise InvalidInput(
            f"period must be one of {', '.join(BudgetPeriod.values)} or null"
        )


def budget_set(
    *,
    team: Team,
    credits: int | None,
    period: str | None,
    actor: str,
    key: VirtualKey | None = None,
    user_id: str | None = None,
) -> BudgetState:
    """Set (or, with `credits` None, remove) the budget of a key of `team` or of
    one of its end users. Audit-logged. A changed limit applies to the current
    period's spend at once; a changed period starts counting in the new one."""
    budget_check(team=team, key=key, user_id=user_id, credits=credits, period=period)
    with transaction.atomic():
        # The account row first, as the holds take it: a limit changes between
        # two reservations, never during one.
        CreditAccount.objects.select_for_update(no_key=True).filter(team=team).first()
        locked = Team.objects.select_for_update(no_key=True).get(pk=team.pk)
        budget = _budget_of(team, key, user_id)
        before = _state(budget, locked, timezone.now()).as_dict()
        if credits is None:
            if budget is not None:
                budget.delete()
            budget = None
        elif budget is None:
            budget = Budget.objects.create(
                team=locked,
                key=key,
                user_id="" if key is not None else user_id,
                credits=credits,
                period=period or "",
            )
        else:
            if budget.period != (period or ""):
                budget.spends.all().delete()  # a new kind of period: counted anew
            budget.credits, budget.period = credits, period or ""
            budget.save(update_fields=["credits", "period", "updated_at"])
        has_budgets = Budget.objects.filter(team=locked).exists()
        if locked.sub_budgets != has_budgets:
            locked.sub_budgets = has_budgets
            locked.save(update_fields=["sub_budgets", "updated_at"])
        after = _state(budget, locked, timezone.now())
        audit_log_write(
            actor=actor,
            action="budget.set",
            obj=locked,
            object_id=f"{locked.team_id}/key:{key.key_id}"
            if key is not None
            else f"{locked.team_id}/user:{user_id}",
            before=_json(before),
            after=_json(after.as_dict()),
        )
    return after


def _json(state: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else value
        for name, value in state.items()
    }
