from __future__ import annotations

import math
from decimal import Decimal

from jobs.models import LLMCall
from jobs.tests.conftest import account, complete, llm_call
from teams.models import BudgetMode


def test_job_based_mode_charges_one_credit_whatever_the_calls(team_client, job_id):
    for _ in range(3):
        llm_call(team_client, job_id)
    assert complete(team_client, job_id).json()["costs"]["credits_charged"] == 1


def test_consumption_tokens_mode_charges_by_tokens(team_client, team, job_id):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 5
    team.save()
    for _ in range(3):
        assert llm_call(team_client, job_id, max_tokens=20).status_code == 200
    tokens = sum(call.total_tokens for call in LLMCall.objects.all())
    charged = complete(team_client, job_id).json()["costs"]["credits_charged"]
    assert charged == math.ceil(tokens / 5)
    assert charged > 1
    assert account(team).credits_used == charged
    assert account(team).credits_reserved == 0


def test_consumption_tokens_mode_charges_at_least_one_credit(team_client, team, job_id):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.save()
    llm_call(team_client, job_id)
    assert complete(team_client, job_id).json()["costs"]["credits_charged"] == 1


def test_consumption_usd_mode_charges_the_marked_up_cost(
    team_client, team, job_id, chat_alias
):
    chat_alias.pricing_input = Decimal("100000")  # $0.10 a token: easy to count
    chat_alias.pricing_output = Decimal("200000")
    chat_alias.save()
    team.budget_mode = BudgetMode.CONSUMPTION_USD
    team.credits_per_dollar = Decimal("10")
    team.markup_percent = Decimal("50")
    team.save()
    assert llm_call(team_client, job_id, max_tokens=10).status_code == 200
    call = LLMCall.objects.get()
    cost = call.prompt_tokens * Decimal("0.1") + call.completion_tokens * Decimal("0.2")
    assert call.provider_cost_usd == cost
    assert call.client_cost_usd == cost * Decimal("1.5")
    charged = complete(team_client, job_id).json()["costs"]["credits_charged"]
    assert charged == math.ceil(cost * Decimal("1.5") * 10)


def test_a_call_in_consumption_mode_reserves_its_worst_case(team_client, team, job_id):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 100
    team.save()
    llm_call(team_client, job_id, max_tokens=1000)
    # Held: prompt estimate + 1000 output tokens, at 100 tokens per credit.
    assert account(team).credits_reserved >= 10


def test_a_call_the_team_cannot_cover_is_refused_before_the_provider(
    team_client, team, job_id, fake_provider
):
    team.budget_mode = BudgetMode.CONSUMPTION_TOKENS
    team.tokens_per_credit = 1
    team.save()
    before = fake_provider.request_count
    response = llm_call(team_client, job_id, max_tokens=500)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_credits"
    assert fake_provider.request_count == before
    assert account(team).credits_reserved == 1
