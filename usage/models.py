"""Usage rollups: a day's calls, tokens, credits and costs per team, key, alias, end
user and job type, kept current by the services that record calls and charge jobs.

A row is written in the transaction that records a call's outcome or a job's charge
(`usage.services`), so it is never ahead of or behind the calls table and the ledger;
`manage.py rollups_rebuild --check` proves it. Readers (usage endpoints, exports) cost
what the days and groups shown cost, not what the number of calls does.

UsageDailyTotal is the same usage summed across teams, per day and alias: what the
pages over every team read (the admin home, spend analytics), whose cost would
otherwise grow with the number of active teams. UsageMonthly is a team's usage
summed per month: what organization usage reads, a row per team, however many
days and groups the month holds; it carries the team's organization (which never
changes), so that reading an organization's month reads that organization's rows
only, not every team's.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from teams.models import Organization, Team, VirtualKey

GROUP_FIELDS = ("day", "team", "key", "model_alias", "user_id", "job_type")
TOTAL_GROUP_FIELDS = ("day", "model_alias", "shard")
MONTH_GROUP_FIELDS = ("month", "team")
COUNTER_FIELDS = (
    "calls",
    "failed_calls",
    "jobs_completed",
    "jobs_failed",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "credits",
    "provider_cost_usd",
    "client_cost_usd",
)
COST_FIELDS = ("provider_cost_usd", "client_cost_usd")
JOB_FIELDS = ("jobs_completed", "jobs_failed")


class UsageQuerySet(models.QuerySet):
    def for_team(self, team: Team) -> UsageQuerySet:
        return self.filter(team=team)

    def spend(self) -> UsageQuerySet:
        """The rows with calls or charges (not those that only count closed jobs
        of no successful call): what spend analytics and exports show."""
        return self.exclude(calls=0, credits=0)


class UsageCounters(models.Model):
    """What a rollup row counts (COUNTER_FIELDS); see UsageDaily for each one's
    meaning."""

    calls = models.PositiveBigIntegerField(default=0)
    failed_calls = models.PositiveBigIntegerField(default=0)
    jobs_completed = models.PositiveBigIntegerField(default=0)
    jobs_failed = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    credits = models.BigIntegerField(default=0)
    # A call's costs are (14, 8); a day of a group's calls adds up to more.
    provider_cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)
    client_cost_usd = models.DecimalField(max_digits=20, decimal_places=8, default=0)

    class Meta:
        abstract = True


class UsageDaily(UsageCounters):
    """One group's usage over one UTC day.

    - `day`: a call counts on the day it was created (as the request log and
      retention see it), a charge on the day of its ledger entry.
    - `key`: the virtual key that opened the calls' job (whose budget paid); NULL
      for jobs opened by the operator or before jobs recorded their key.
    - `model_alias`: the alias called; a job's charge goes to the alias of its
      first successful call ('' if its calls are gone).
    - `user_id`: the job's end user ('' if none); `job_type`: the job's type.
    - `credits`: credits charged (the ledger's deductions of jobs).
    - `jobs_completed`, `jobs_failed`: jobs closed with that status, on the day
      they were created, in the group of their first successful call ('' as the
      alias if none). Jobs still open are not counted here (the usage endpoints
      and the dashboard count them from the jobs: few, and indexed by status).
    """

    day = models.DateField()
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(
        VirtualKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    model_alias = models.CharField(max_length=100, blank=True)
    user_id = models.CharField(max_length=200, blank=True)
    job_type = models.CharField(max_length=100, blank=True)

    objects = UsageQuerySet.as_manager()

    class Meta:
        verbose_name = "daily usage"
        verbose_name_plural = "daily usage"
        ordering = ["-day", "team", "model_alias", "user_id"]
        indexes = [
            # A team's days (team usage, its export); every team's days (exports and
            # organization usage over a period).
            models.Index(fields=["team", "day"], name="usage_daily_team_day"),
            models.Index(fields=["day"], name="usage_daily_day"),
            # The rows that name an end user (spend analytics ranks end users over
            # every team; most jobs name none).
            models.Index(
                fields=["day"], condition=~Q(user_id=""), name="usage_daily_user_day"
            ),
        ]
        constraints = [
            # One row per group. Two partial constraints rather than one, because a
            # NULL key is distinct from every other in a unique index (PostgreSQL's
            # NULLS NOT DISTINCT is not SQLite's): the upsert names the one that
            # applies.
            models.UniqueConstraint(
                fields=["team", "day", "model_alias", "user_id", "job_type"],
                condition=Q(key__isnull=True),
                name="usage_daily_group_without_key",
            ),
            models.UniqueConstraint(
                fields=["team", "day", "key", "model_alias", "user_id", "job_type"],
                condition=Q(key__isnull=False),
                name="usage_daily_group_with_key",
            ),
            models.CheckConstraint(
                condition=Q(failed_calls__lte=models.F("calls")),
                name="usage_daily_failed_within_calls",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team_id} {self.model_alias or '-'} ({self.calls})"


TOTAL_SHARDS = 16


class UsageDailyTotal(UsageCounters):
    """Every team's usage over one UTC day per alias: the sum of UsageDaily's rows
    of that day and alias (the same counters), written beside them by the same
    statements' transaction.

    `shard` is the team's id modulo TOTAL_SHARDS: one row per alias and day would
    queue every team's settlements on it; sixteen let teams commit side by side,
    while a page over every team still reads at most 16 rows per alias and day.
    """

    day = models.DateField()
    model_alias = models.CharField(max_length=100, blank=True)
    shard = models.PositiveSmallIntegerField()

    objects = UsageQuerySet.as_manager()

    class Meta:
        verbose_name = "daily usage of every team"
        verbose_name_plural = "daily usage of every team"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model_alias", "shard"], name="usage_total_group"
            ),
            models.CheckConstraint(
                condition=Q(failed_calls__lte=models.F("calls")),
                name="usage_total_failed_within_calls",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.model_alias or '-'} #{self.shard} ({self.calls})"


class UsageMonthly(UsageCounters):
    """One team's usage over one UTC month (`month`: its first day): the sum of the
    team's UsageDaily rows of that month (the same counters), written beside them by
    the same statements' transaction."""

    month = models.DateField()
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    # The team's, written with the row's first increment (usage.services.record).
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    objects = UsageQuerySet.as_manager()

    class Meta:
        verbose_name = "monthly usage"
        verbose_name_plural = "monthly usage"
        indexes = [
            models.Index(fields=["month"], name="usage_monthly_month"),
            models.Index(
                fields=["organization", "month"], name="usage_monthly_org_month"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month"], name="usage_monthly_group"
            ),
            models.CheckConstraint(
                condition=Q(failed_calls__lte=models.F("calls")),
                name="usage_monthly_failed_within_calls",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.team_id} ({self.calls})"
