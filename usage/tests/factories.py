"""Rollup rows for the export tests (plain aggregates; the rollup tests make theirs
through real calls)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory

from usage.models import UsageDaily


class UsageDailyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageDaily

    day = datetime.date(2025, 3, 1)
    model_alias = "mock"
    user_id = ""
    job_type = "report"
    calls = 2
    failed_calls = 0
    prompt_tokens = 10
    completion_tokens = 5
    total_tokens = 15
    credits = 1
    provider_cost_usd = Decimal("0.00100000")
    client_cost_usd = Decimal("0.00150000")
