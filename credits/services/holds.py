"""A job's credits: reserve them, then capture (charge) or release them, at most once.

Each job has one hold. A reservation sets credits aside with a conditional UPDATE of
the account row, so concurrent requests can never spend more than the team has; the
capture closes the hold and writes the job's one deduction; a release (or expiry, for a
crashed worker's job) gives the hold back. The database constraints on the models back
every rule here.

Lock order: the job's hold, then the account row. Every function that touches both takes
them in that order (taking them in both orders let a reserve and a capture of one job
deadlock). The account row is the one every request of a team queues on, so it is
taken as late as possible and held as briefly: a new job's reservation is one UPDATE
of it sent with the commit (`credit_reserve_for_new_job`, its refusals raised by the
database), and a capture that the account can pay in full one conditional UPDATE
(`_account_charge_in_full`) followed only by writes sent with the commit: the ledger
entry and the usage rollups.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from credits.models import CreditAccount, CreditHold, EntryType, HoldStatus, LedgerEntry
from credits.services.budgets import (
    budgets_grow,
    budgets_reserve,
    budgets_room,
    budgets_settle,
)
from credits.services.ledger import (
    ACCOUNT_COLUMNS,
    MAX_CREDITS_PER_OPERATION,
    _entry_write,
    _locked_account,
    _validate_credits,
    account_of,
)
from saas_litellm import sql
from saas_litellm.exceptions import (
    Conflict,
    InsufficientCredits,
    InvalidInput,
    JobClosed,
    TeamPaused,
    TeamSuspended,
)
from teams.models import Team, TeamStatus

logger = logging.getLogger(__name__)

RELEASE_STATUSES = (HoldStatus.RELEASED, HoldStatus.EXPIRED)


HOLD_COLUMNS = (
    "id",
    "hold_id",
    "amount",
    "status",
    "expires_at",
    "created_at",
    "closed_at",
    "key_spend_id",
    "user_spend_id",
)


# The team's account, in a statement about one of its holds.
ACCOUNT_OF_TEAM = "(SELECT id FROM credits_creditaccount WHERE team_id = %s)"


def _hold_for_update(team: Team, job_id: uuid.UUID) -> CreditHold | None:
    """The job's hold in the team's account, locked until the transaction ends."""
    found = sql.rows(
        f"SELECT account_id, {', '.join(HOLD_COLUMNS)} "  # noqa: S608
        f"FROM credits_credithold WHERE job_id = %s "
        f"AND account_id = {ACCOUNT_OF_TEAM}{sql.for_update()}",
        [sql.value(CreditHold, "job_id", job_id), team.pk],
    )
    if not found:
        return None
    account_id, *columns = found[0]
    hold = CreditHold(
        account_id=account_id,
        job_id=job_id,
        **{
            name: sql.read(CreditHold, name, stored)
            for name, stored in zip(HOLD_COLUMNS, columns, strict=True)
        },
    )
    hold._state.adding = False
    return hold


def _spends(hold: CreditHold) -> tuple[int | None, int | None]:
    return hold.key_spend_id, hold.user_spend_id


def credit_reserve(
    *,
    team: Team,
    job_id: uuid.UUID,
    credits: int,
    ttl: timedelta | None = None,
    key_id: int | None = None,
    user_id: str = "",
) -> CreditHold:
    """Set `credits` aside for a job, adding to the job's open hold, and in the
    budgets of its key and end user (`key_id`, `user_id`: the job's; they count
    when the hold opens, see credits.services.budgets).

    One conditional UPDATE does the check and the write (and locks the account row),
    so two requests can never both take the last credit. Raises InsufficientCredits
    when they are not there (KeyBudgetExceeded, UserBudgetExceeded when a budget
    has no room), and JobClosed when the job was already settled.
    Growing a hold also pushes its expiry back: the job is evidently still alive; a
    job whose hold expired gets a fresh one.
    """
    credits = _validate_credits(credits)
    expires_at = timezone.now() + (
        ttl or timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS)
    )
    with transaction.atomic():
        hold = _hold_for_update(team, job_id)
        if hold is not None and hold.status in (
            HoldStatus.CAPTURED,
            HoldStatus.RELEASED,
        ):
            raise JobClosed(f"Credits for job {job_id} were already settled")
        # No account yet means no credits: the UPDATE matches nothing.
        reserved = CreditAccount.objects.filter(
            team=team,
            credits_allocated__gte=F("credits_used") + F("credits_reserved") + credits,
        ).update(
            credits_reserved=F("credits_reserved") + credits, updated_at=timezone.now()
        )
        if not reserved:
            raise InsufficientCredits()
        if hold is not None and hold.status == HoldStatus.EXPIRED:
            # The job outlived its hold but is still working: a fresh reservation.
            hold.status, hold.amount, hold.closed_at = HoldStatus.OPEN, 0, None
        if hold is not None:
            budgets_grow(team=team, spend_ids=_spends(hold), credits=credits)
            hold.amount += credits
            hold.expires_at = expires_at
            hold.save(update_fields=["status", "amount", "expires_at", "closed_at"])
            return hold
        account = CreditAccount.objects.only("pk").get(team=team)
        key_spend_id, user_spend_id = budgets_reserve(
            team=team,
            key_id=key_id,
            user_id=user_id,
            credits=credits,
            now=timezone.now(),
        )
        try:
            with transaction.atomic():
                return CreditHold.objects.create(
                    account=account,
                    job_id=job_id,
                    amount=credits,
                    expires_at=expires_at,
                    key_spend_id=key_spend_id,
                    user_spend_id=user_spend_id,
                )
        except IntegrityError:
            # The job id is held by another team's account: ids are UUIDs, so this
            # is a caller's bug, not a race (same-team reserves are serialised).
            raise Conflict(
                f"Job {job_id} already has credits reserved elsewhere"
            ) from None


def credit_reserve_for_new_job(
    *,
    team: Team,
    job_id: uuid.UUID,
    credits: int,
    ttl: timedelta | None = None,
    key_id: int | None = None,
    user_id: str = "",
) -> None:
    """credit_reserve for a job created in the caller's open transaction, which
    therefore has no hold yet, and for an active team only: the hold's INSERT (its
    account found by a subquery), then one UPDATE of the account, sent without
    waiting for either (in a pipeline, with the caller's COMMIT unless the key or
    end user has a budget), so the account row is held only while PostgreSQL runs
    them. Each refusal is the database's own, raised when the caller's
    transaction ends: an account that cannot cover the credits breaks its CHECK
    constraint (`account_available_not_negative`), and a team that is not active
    (or has no account) gives the hold no account (NOT NULL). The caller turns
    that error into its reason with `credit_reserve_refusals`. Then the key's and
    end user's budgets, as credit_reserve.

    Runs in the caller's transaction, without a savepoint: a refusal (or a duplicate
    job id, refused by the unique constraint) must end that transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("credit_reserve_for_new_job needs the job's transaction")
    credits = _validate_credits(credits)
    now = timezone.now()
    expires_at = now + (ttl or timedelta(seconds=settings.JOB_HOLD_TTL_SECONDS))
    # The hold first, the account row last (the lock order): a team's requests
    # queue on that row until the commit.
    sql.run(
        "INSERT INTO credits_credithold"
        " (hold_id, account_id, job_id, amount, status, expires_at, created_at)"
        " VALUES (%s, (SELECT credits_creditaccount.id FROM credits_creditaccount"
        " JOIN teams_team ON teams_team.id = credits_creditaccount.team_id"
        " WHERE credits_creditaccount.team_id = %s AND teams_team.status = %s),"
        " %s, %s, %s, %s, %s)",
        [
            sql.value(CreditHold, "hold_id", uuid.uuid4()),
            team.pk,
            TeamStatus.ACTIVE.value,
            sql.value(CreditHold, "job_id", job_id),
            credits,
            HoldStatus.OPEN.value,
            sql.value(CreditHold, "expires_at", expires_at),
            sql.value(CreditHold, "created_at", now),
        ],
    )
    sql.run(
        "UPDATE credits_creditaccount"
        " SET credits_reserved = credits_reserved + %s, updated_at = %s"
        " WHERE team_id = %s",
        [credits, sql.value(CreditAccount, "updated_at", now), team.pk],
    )
    spends = budgets_reserve(
        team=team, key_id=key_id, user_id=user_id, credits=credits, now=now
    )
    if spends != (None, None):
        sql.run(
            "UPDATE credits_credithold SET key_spend_id = %s, user_spend_id = %s"
            " WHERE job_id = %s",
            [*spends, sql.value(CreditHold, "job_id", job_id)],
        )


# What the database breaks when it refuses credit_reserve_for_new_job's reservation.
RESERVATION_REFUSED = frozenset(
    {"account_available_not_negative", "credits_credithold.account_id"}
)


@contextmanager
def credit_reserve_refusals(*, team: Team) -> Iterator[None]:
    """Around the transaction of credit_reserve_for_new_job: a reservation the
    database refused (at the commit, or at the next statement that waits) as its
    reason, read once the transaction has rolled back: TeamSuspended, TeamPaused
    or InsufficientCredits. Any other error goes through as it is."""
    try:
        yield
    except IntegrityError as error:
        if sql.violated(error) not in RESERVATION_REFUSED:
            raise
        status = Team.objects.filter(pk=team.pk).values_list("status", flat=True)
        refusals = {TeamStatus.SUSPENDED: TeamSuspended, TeamStatus.PAUSED: TeamPaused}
        raise refusals.get(status.first(), InsufficientCredits)() from None


def _deduction_of(job_id: uuid.UUID) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(
        job_id=job_id, entry_type=EntryType.DEDUCTION
    ).first()


def credit_capture(
    *,
    team: Team,
    job_id: uuid.UUID,
    credits: int,
    reason: str = "",
    actor: str = "",
    savepoint: bool = True,
) -> LedgerEntry | None:
    """Charge a job: close its hold and write one deduction, at most once per job.

    A repeat returns the first deduction (None when the first charge was zero). The
    charge never overdraws the account: when the real charge exceeds the hold plus what
    is still available (an estimate that was too low), the team is charged what it has
    (and what the key's and end user's budgets have) and the shortfall is logged. A
    job whose hold expired (its worker went quiet) is still billed for what it used,
    from what is available. A job whose hold was released (failed or cancelled)
    cannot be charged any more: JobClosed.

    `savepoint=False` (for a caller whose own transaction ends on any error) takes
    no savepoint: an error then rolls the caller's transaction back as a whole.
    The returned entry's `account` is the locked account as this charge left it.
    """
    if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
        raise InvalidInput("credits must be a whole number, zero or more")
    if credits > MAX_CREDITS_PER_OPERATION:
        raise InvalidInput(f"credits must be at most {MAX_CREDITS_PER_OPERATION}")
    now = timezone.now()
    with transaction.atomic(savepoint=savepoint):
        # The usual case, in one statement: the job's open hold, captured.
        captured = sql.rows(
            "UPDATE credits_credithold SET status = %s, closed_at = %s"  # noqa: S608
            f" WHERE job_id = %s AND status = %s AND account_id = {ACCOUNT_OF_TEAM}"
            " RETURNING amount, key_spend_id, user_spend_id",
            [
                HoldStatus.CAPTURED.value,
                sql.value(CreditHold, "closed_at", now),
                sql.value(CreditHold, "job_id", job_id),
                HoldStatus.OPEN.value,
                team.pk,
            ],
        )
        held, key_spend_id, user_spend_id = captured[0] if captured else (0, None, None)
        spends = (key_spend_id, user_spend_id)
        if captured and spends == (None, None):
            account = _account_charge_in_full(team, held=held, credits=credits, now=now)
            if account is not None:
                return _deduction_write(account, credits, job_id, reason, actor)
        if not captured:
            hold = _hold_for_update(team, job_id)
            if hold is not None and hold.status == HoldStatus.CAPTURED:
                return _deduction_of(job_id)
            if hold is not None and hold.status == HoldStatus.RELEASED:
                raise JobClosed(
                    f"Credits for job {job_id} were released; it is not billed"
                )
            if hold is None and (
                CreditHold.objects.filter(job_id=job_id).exists()
                or _deduction_of(job_id) is not None
            ):
                # The job belongs to another team's account: never charged here.
                # (An open hold here proves the job was never captured: holds are
                # per job.)
                raise Conflict(f"Job {job_id} belongs to another account")
            account = _locked_account(team)
            _hold_settle_marker(account, hold, job_id=job_id, now=now)
            spends = (None, None) if hold is None else _spends(hold)
        else:
            account = _locked_account(team)
        room = budgets_room(spends)
        charge = min(
            credits,
            held + account.credits_remaining,
            credits if room is None else held + room,
        )
        if charge < credits:
            logger.warning(
                "job %s: charge %s capped at %s credits (account or budget exhausted)",
                job_id,
                credits,
                charge,
            )
        account.credits_reserved -= held
        account.credits_used += charge
        sql.update(account, ["credits_reserved", "credits_used", "updated_at"])
        budgets_settle(spend_ids=spends, held=held, charged=charge)
        return _deduction_write(account, charge, job_id, reason, actor)


def _account_charge_in_full(
    team: Team, *, held: int, credits: int, now: datetime
) -> CreditAccount | None:
    """The capture of a hold of `held` as a charge of `credits`, when the account
    can pay all of it: one conditional UPDATE, the account as it left it (None
    when it cannot: the caller then charges what is there, under the row's lock)."""
    charged = sql.rows(
        "UPDATE credits_creditaccount SET credits_reserved = credits_reserved - %s,"  # noqa: S608
        " credits_used = credits_used + %s, updated_at = %s"
        " WHERE team_id = %s"
        " AND credits_allocated + %s >= credits_used + credits_reserved + %s"
        f" RETURNING {ACCOUNT_COLUMNS}",
        [
            held,
            credits,
            sql.value(CreditAccount, "updated_at", now),
            team.pk,
            held,
            credits,
        ],
    )
    return account_of(team, charged[0]) if charged else None


def _deduction_write(
    account: CreditAccount,
    charge: int,
    job_id: uuid.UUID,
    reason: str,
    actor: str,
) -> LedgerEntry | None:
    if charge == 0:
        return None
    return _entry_write(
        account,
        entry_type=EntryType.DEDUCTION,
        amount=-charge,
        reason=reason,
        actor=actor,
        job_id=job_id,
    )


def _hold_settle_marker(
    account: CreditAccount, hold: CreditHold | None, *, job_id: uuid.UUID, now: datetime
) -> None:
    """Mark a job charged without an open hold (none, or expired) as captured, so
    that it is charged at most once (and cannot reserve again)."""
    if hold is None:
        CreditHold.objects.create(
            account=account,
            job_id=job_id,
            amount=0,
            status=HoldStatus.CAPTURED,
            expires_at=now,
            closed_at=now,
        )
        return
    hold.status = HoldStatus.CAPTURED
    hold.closed_at = now
    sql.update(hold, ["status", "closed_at"])


def credit_release(
    *,
    team: Team,
    job_id: uuid.UUID,
    status: str = HoldStatus.RELEASED,
    savepoint: bool = True,
) -> CreditHold | None:
    """Give a job's open hold back to the team. Does nothing when it is not open.

    `savepoint` as for credit_capture."""
    if status not in RELEASE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(RELEASE_STATUSES)}")
    with transaction.atomic(savepoint=savepoint):
        hold = _hold_for_update(team, job_id)
        if hold is None or hold.status != HoldStatus.OPEN:
            return None
        _hold_close(_locked_account(team), hold, status=status)
        return hold


def _hold_close(account: CreditAccount, hold: CreditHold, *, status: str) -> None:
    account.credits_reserved -= hold.amount
    sql.update(account, ["credits_reserved", "updated_at"])
    budgets_settle(spend_ids=_spends(hold), held=hold.amount, charged=0)
    hold.status = status
    hold.closed_at = timezone.now()
    sql.update(hold, ["status", "closed_at"])


def holds_expire(*, now: datetime | None = None) -> int:
    """Release every open hold past its expiry (a crashed worker's); count returned.

    Each hold is re-checked under its lock: a hold whose job reserved more (and so
    pushed its expiry back) or was captured meanwhile is left alone.
    """
    now = now or timezone.now()
    expired = 0
    candidates = list(
        CreditHold.objects.filter(status=HoldStatus.OPEN, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("account_id", "pk")
    )
    for account_id, hold_pk in candidates:
        with transaction.atomic():
            hold = (
                CreditHold.objects.select_for_update()
                .filter(pk=hold_pk, status=HoldStatus.OPEN, expires_at__lte=now)
                .first()
            )
            if hold is not None:
                account = CreditAccount.objects.select_for_update(no_key=True).get(
                    pk=account_id
                )
                _hold_close(account, hold, status=HoldStatus.EXPIRED)
                expired += 1
    return expired
