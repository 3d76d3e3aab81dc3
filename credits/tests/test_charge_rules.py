from __future__ import annotations

from decimal import Decimal

import pytest

from credits.services import MINIMUM_JOB_CHARGE, client_cost_usd, credits_for_job

pytestmark = pytest.mark.django_db


def test_job_based_teams_pay_one_credit_per_job_whatever_it_used(make_team):
    team = make_team()
    charge = credits_for_job(team=team, total_tokens=10**6, client_cost=Decimal(9))
    assert charge == MINIMUM_JOB_CHARGE == 1


@pytest.mark.parametrize(
    ("tokens", "credits"), [(0, 1), (1, 1), (10_000, 1), (10_001, 2), (95_000, 10)]
)
def test_token_teams_pay_the_ceiling_of_tokens_per_credit(make_team, tokens, credits):
    team = make_team(budget_mode="consumption_tokens")
    assert credits_for_job(team=team, total_tokens=tokens, client_cost=Decimal(0)) == (
        credits
    )


@pytest.mark.parametrize(
    ("cost", "credits"),
    [("0", 1), ("0.01", 1), ("0.1", 1), ("0.10000001", 2), ("1.23", 13)],
)
def test_usd_teams_pay_the_ceiling_of_cost_times_credits_per_dollar(
    make_team, cost, credits
):
    team = make_team(budget_mode="consumption_usd")
    assert credits_for_job(team=team, total_tokens=0, client_cost=Decimal(cost)) == (
        credits
    )


def test_the_client_cost_adds_the_markup_exactly(make_team):
    team = make_team(markup_percent=Decimal("12.5"))
    cost = client_cost_usd(team=team, provider_cost_usd=Decimal("0.00000123"))
    assert cost == Decimal("0.00000138")
    assert isinstance(cost, Decimal)
