from __future__ import annotations

from decimal import Decimal

from jobs.models import LLMCall
from jobs.tests.conftest import llm_call


def test_without_alias_prices_litellms_price_table_is_used(
    team_client, job_id, make_alias
):
    make_alias("mini", "gpt-4o-mini", mock_response="offline answer")
    llm_call(team_client, job_id, model="mini")
    call = LLMCall.objects.get()
    # gpt-4o-mini in litellm's bundled table: $0.15 / $0.60 per million tokens.
    expected = (
        Decimal(call.prompt_tokens) * Decimal("0.15")
        + Decimal(call.completion_tokens) * Decimal("0.60")
    ) / 1_000_000
    assert call.provider_cost_usd == expected
    assert call.provider_cost_usd > 0


def test_alias_prices_win_over_litellms_table(team_client, job_id, make_alias):
    make_alias(
        "mini",
        "gpt-4o-mini",
        mock_response="offline answer",
        pricing_input=Decimal("1"),
        pricing_output=Decimal("1"),
    )
    llm_call(team_client, job_id, model="mini")
    call = LLMCall.objects.get()
    assert call.provider_cost_usd == Decimal(call.total_tokens) / 1_000_000


def test_a_model_without_any_price_costs_nothing(team_client, job_id):
    llm_call(team_client, job_id)
    assert LLMCall.objects.get().provider_cost_usd == 0
