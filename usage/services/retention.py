"""Retention: raw call rows, logged payloads and closed holds past their time go;
usage stays.

What goes, in batches of short transactions (a long DELETE would hold its locks and
bloat one transaction): the LLM calls created before the cutoff whose job is closed
(their stored responses keep the conversation, their `call` set to NULL), and the
holds closed before the cutoff (captured or released; expired ones once their job is
closed). What stays: the ledger (append-only, never deleted), the rollups (usage
over any period stays answerable), jobs (the ledger's deductions name them, and
their calls' PROTECT keeps a job with calls from going; a job without calls is just
a smaller row), the open jobs' calls and open holds. Logged payloads (CallPayload)
go once their team's `payload_log_days` are over, or with their call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from credits.models import CreditHold, HoldStatus
from jobs.models import OPEN_JOB_STATUSES, CallPayload, Job, JobStatus, LLMCall
from saas_litellm.exceptions import InvalidInput

CLOSED_JOB_STATUSES = [
    status for status in JobStatus.values if status not in OPEN_JOB_STATUSES
]


@dataclass
class PruneResult:
    cutoff: datetime
    calls: int = 0
    holds: int = 0
    payloads: int = 0
    batches: int = 0


def _prunable_calls(cutoff: datetime) -> QuerySet[LLMCall]:
    return LLMCall.objects.filter(
        created_at__lt=cutoff, job__status__in=CLOSED_JOB_STATUSES
    )


def _prunable_holds(cutoff: datetime) -> QuerySet[CreditHold]:
    closed_job = Job.objects.filter(
        job_id=OuterRef("job_id"), status__in=CLOSED_JOB_STATUSES
    )
    # created_at <= closed_at: the first bound lets the (-created_at) index help.
    return CreditHold.objects.filter(
        created_at__lt=cutoff, closed_at__lt=cutoff
    ).filter(
        Q(status__in=[HoldStatus.CAPTURED, HoldStatus.RELEASED])
        | (Q(status=HoldStatus.EXPIRED) & Q(Exists(closed_job)))
    )


def _batches(
    queryset: QuerySet,
    batch_size: int,
    result: PruneResult,
    oldest_first: tuple[str, ...] = ("created_at", "id"),
) -> int:
    """Delete `queryset`'s rows oldest first, `batch_size` a transaction; the count."""
    deleted = 0
    while True:
        with transaction.atomic():
            pks = list(
                queryset.order_by(*oldest_first).values_list("pk", flat=True)[
                    :batch_size
                ]
            )
            if not pks:
                return deleted
            # Django's collector sets StoredResponse.call to NULL (SET_NULL) first.
            queryset.model.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
        result.batches += 1


def calls_prune(
    *, older_than: timedelta, batch_size: int = 1000, dry_run: bool = False
) -> PruneResult:
    """Delete the calls of closed jobs and the closed holds older than `older_than`,
    and the payloads whose time is over (see the module's docstring); with
    `dry_run`, only count them."""
    if older_than <= timedelta(0):
        raise InvalidInput("older_than must be positive")
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1")
    now = timezone.now()
    result = PruneResult(cutoff=now - older_than)
    calls, holds = _prunable_calls(result.cutoff), _prunable_holds(result.cutoff)
    payloads = CallPayload.objects.filter(keep_until__lt=now)
    if dry_run:
        result.calls, result.holds = calls.count(), holds.count()
        result.payloads = payloads.count()
        return result
    result.payloads = _batches(payloads, batch_size, result, ("keep_until",))
    result.calls = _batches(calls, batch_size, result)
    result.holds = _batches(holds, batch_size, result)
    return result
