"""Request and response shapes of the credits API (and of the team endpoints it
serves). Never a plaintext key, except the one creating response."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from credits.models import BudgetPeriod, CreditAccount, LedgerEntry
from credits.services import (
    MAX_BUDGET_CREDITS,
    MAX_CREDITS_PER_OPERATION,
    team_allowed_model_names,
)
from saas_litellm.exceptions import RequestInvalid
from saas_litellm.json_input import metadata_field
from teams.models import MAX_PAYLOAD_LOG_DAYS, BudgetMode, Team, timezone_names
from teams.serializers import (
    StrictCharField,
    StrictIntegerField,
    VirtualKeySerializer,
    offset_field,
    slug_field,
)

BUDGET_MODES = ", ".join(BudgetMode.values)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict:
    """The validated data, or a 400 that names the first problem."""
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise RequestInvalid(serializer.errors)
    return serializer.validated_data


def credits_field(*, min_value: int = 1, **kwargs: Any) -> StrictIntegerField:
    return StrictIntegerField(
        min_value=min_value,
        max_value=MAX_CREDITS_PER_OPERATION,
        error_messages={
            "min_value": f"Must be at least {min_value}.",
            "max_value": f"Must be at most {MAX_CREDITS_PER_OPERATION}.",
        },
        **kwargs,
    )


def budget_mode_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=BudgetMode.values,
        error_messages={
            "invalid_choice": f'"{{input}}" is not a budget mode; use one of: '
            f"{BUDGET_MODES}."
        },
        **kwargs,
    )


def timezone_field(**kwargs: Any) -> serializers.ChoiceField:
    """An IANA time zone name: key and end-user budget periods are calendar days,
    weeks and months there."""
    return serializers.ChoiceField(
        choices=sorted(timezone_names()),
        error_messages={
            "invalid_choice": '"{input}" is not a time zone name (use an IANA name'
            ' such as "Europe/Paris" or "UTC").'
        },
        **kwargs,
    )


class RatesSerializer(serializers.Serializer):
    tokens_per_credit = StrictIntegerField(
        required=False, min_value=1, max_value=2**31 - 1
    )
    credits_per_dollar = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=4, min_value=Decimal("0.0001")
    )
    markup_percent = serializers.DecimalField(
        required=False, max_digits=7, decimal_places=2, min_value=Decimal(0)
    )


class CreditAddSerializer(serializers.Serializer):
    credits = credits_field()
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=500, default=""
    )


class ReplenishSerializer(serializers.Serializer):
    credits = credits_field()
    payment_type = serializers.ChoiceField(choices=["subscription", "one_time"])
    payment_amount_usd = serializers.DecimalField(
        required=False,
        allow_null=True,
        max_digits=12,
        decimal_places=2,
        min_value=Decimal(0),
    )
    reason = StrictCharField(
        required=False, allow_blank=True, max_length=500, default=""
    )


class BudgetModeSerializer(RatesSerializer):
    budget_mode = budget_mode_field()


class TransactionsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class BalanceQuerySerializer(serializers.Serializer):
    team_id = serializers.CharField(max_length=100)


class TeamListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)
    offset = offset_field(required=False)


class TeamCreateSerializer(RatesSerializer):
    organization_id = slug_field()
    team_id = slug_field()
    team_alias = StrictCharField(
        required=False, allow_blank=True, max_length=200, default=""
    )
    access_groups = serializers.ListField(
        child=StrictCharField(max_length=100), required=False, default=list
    )
    credits_allocated = credits_field(min_value=0, required=False, default=0)
    budget_mode = budget_mode_field(required=False, default=BudgetMode.JOB_BASED)
    metadata = metadata_field(required=False, default=dict)
    timezone = timezone_field(required=False, default="UTC")


def _limit_field() -> StrictIntegerField:
    return StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )


class TeamUpdateSerializer(RatesSerializer):
    team_alias = StrictCharField(required=False, allow_blank=True, max_length=200)
    access_groups = serializers.ListField(
        child=StrictCharField(max_length=100), required=False
    )
    budget_mode = budget_mode_field(required=False)
    requests_per_minute = _limit_field()
    tokens_per_minute = _limit_field()
    max_parallel_requests = _limit_field()
    metadata = metadata_field(required=False)
    timezone = timezone_field(required=False)
    payload_log_days = StrictIntegerField(
        required=False,
        min_value=0,
        max_value=MAX_PAYLOAD_LOG_DAYS,
        help_text="Days each call's prompt and answer are kept for the operator's "
        "request log (0: never stored, the default).",
    )


class BalanceSerializer(serializers.ModelSerializer):
    team_id = serializers.CharField(source="team.team_id")
    budget_mode = serializers.CharField(source="team.budget_mode")

    class Meta:
        model = CreditAccount
        fields = [
            "team_id",
            "credits_allocated",
            "credits_used",
            "credits_reserved",
            "credits_remaining",
            "budget_mode",
        ]
        read_only_fields = fields


class TransactionSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="entry_type")
    credits_amount = serializers.IntegerField(source="amount")
    credits_before = serializers.IntegerField(source="balance_before")
    credits_after = serializers.IntegerField(source="balance_after")

    class Meta:
        model = LedgerEntry
        fields = [
            "transaction_id",
            "type",
            "credits_amount",
            "credits_before",
            "credits_after",
            "job_id",
            "reason",
            "created_at",
        ]
        read_only_fields = fields


class TeamRatesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = [
            "team_id",
            "budget_mode",
            "tokens_per_credit",
            "credits_per_dollar",
            "markup_percent",
        ]
        read_only_fields = fields


class TeamSummarySerializer(serializers.ModelSerializer):
    """A team as lists show it: settings and balance, no keys."""

    organization_id = serializers.CharField(source="organization.organization_id")
    access_groups = serializers.SerializerMethodField()
    credits_allocated = serializers.SerializerMethodField()
    credits_used = serializers.SerializerMethodField()
    credits_reserved = serializers.SerializerMethodField()
    credits_remaining = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = [
            "team_id",
            "organization_id",
            "team_alias",
            "status",
            "access_groups",
            "credits_allocated",
            "credits_used",
            "credits_reserved",
            "credits_remaining",
            "budget_mode",
            "tokens_per_credit",
            "credits_per_dollar",
            "markup_percent",
            "requests_per_minute",
            "tokens_per_minute",
            "max_parallel_requests",
            "timezone",
            "payload_log_days",
            "created_at",
        ]
        read_only_fields = fields

    def get_access_groups(self, team: Team) -> list[str]:
        return sorted(group.group_name for group in team.access_groups.all())

    def _account(self, team: Team) -> CreditAccount:
        try:
            return team.credit_account
        except CreditAccount.DoesNotExist:
            return CreditAccount(team=team)  # no account yet: nothing allocated

    def get_credits_allocated(self, team: Team) -> int:
        return self._account(team).credits_allocated

    def get_credits_used(self, team: Team) -> int:
        return self._account(team).credits_used

    def get_credits_reserved(self, team: Team) -> int:
        return self._account(team).credits_reserved

    def get_credits_remaining(self, team: Team) -> int:
        return self._account(team).credits_remaining


class TeamDetailSerializer(TeamSummarySerializer):
    allowed_models = serializers.SerializerMethodField()
    keys = VirtualKeySerializer(many=True, read_only=True)
    # Not read-only so that the schema does not list it as required: a team's own
    # key does not see the operator's markup (credits.api drops it).
    markup_percent = serializers.DecimalField(
        max_digits=7, decimal_places=2, required=False, help_text="Operator only."
    )

    class Meta(TeamSummarySerializer.Meta):
        fields = [
            *TeamSummarySerializer.Meta.fields[:5],
            "allowed_models",
            *TeamSummarySerializer.Meta.fields[5:],
            "keys",
        ]
        read_only_fields = fields

    def get_allowed_models(self, team: Team) -> list[str]:
        return team_allowed_model_names(team=team)


# --- Response shapes for the OpenAPI schema -------------------------------------------


class TeamCreatedSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    organization_id = serializers.CharField()
    team_alias = serializers.CharField()
    virtual_key = serializers.CharField(
        allow_null=True,
        help_text="The plaintext key, shown in this response only (null on a replay "
        "under the same Idempotency-Key).",
    )
    key_prefix = serializers.CharField()
    key_id = serializers.UUIDField()
    access_groups = serializers.ListField(child=serializers.CharField())
    allowed_models = serializers.ListField(child=serializers.CharField())
    credits_allocated = serializers.IntegerField()
    credits_remaining = serializers.IntegerField()
    status = serializers.CharField()
    budget_mode = serializers.CharField()


class TeamPageSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    teams = TeamSummarySerializer(many=True)


class TransactionListSerializer(serializers.Serializer):
    team_id = serializers.CharField()
    transactions = TransactionSerializer(many=True)


class CreditWriteSerializer(serializers.Serializer):
    transaction = TransactionSerializer()
    balance = BalanceSerializer()


# --- Budgets inside a team ----------------------------------------------------------


class BudgetWriteSerializer(serializers.Serializer):
    credits = StrictIntegerField(
        allow_null=True,
        min_value=0,
        max_value=MAX_BUDGET_CREDITS,
        help_text="The limit per period; null removes the budget.",
    )
    period = serializers.ChoiceField(
        choices=BudgetPeriod.values,
        allow_null=True,
        required=False,
        default=None,
        help_text="Calendar periods in the team's timezone; null: one limit for "
        "all time.",
    )


class BudgetSerializer(serializers.Serializer):
    credits = serializers.IntegerField(allow_null=True)
    period = serializers.CharField(allow_null=True)
    spent = serializers.IntegerField(help_text="Charged in the current period.")
    remaining = serializers.IntegerField(
        allow_null=True, help_text="Neither charged nor held for running work."
    )
    resets_at = serializers.DateTimeField(allow_null=True)


class KeySelfSerializer(serializers.Serializer):
    key_id = serializers.UUIDField()
    name = serializers.CharField()
    key_prefix = serializers.CharField()
    team_id = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    budget = BudgetSerializer(allow_null=True)
