"""What a job costs: the USD price billed to a team and the credits charged for it.

Pure arithmetic on the team's budget mode and rates (see API.md); no database writes.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from teams.models import BudgetMode, Team

MINIMUM_JOB_CHARGE = 1
USD_QUANTUM = Decimal("0.00000001")


def client_cost_usd(*, team: Team, provider_cost_usd: Decimal) -> Decimal:
    """What the team is billed in USD: provider cost plus the team's markup."""
    markup = Decimal(1) + Decimal(team.markup_percent) / Decimal(100)
    return (Decimal(provider_cost_usd) * markup).quantize(USD_QUANTUM, ROUND_HALF_UP)


def credits_for_job(*, team: Team, total_tokens: int, client_cost: Decimal) -> int:
    """The charge of one completed job under the team's budget mode (see API.md)."""
    if team.budget_mode == BudgetMode.CONSUMPTION_TOKENS:
        # Integer ceiling division: exact for any size, unlike a float division.
        return max(MINIMUM_JOB_CHARGE, -(-int(total_tokens) // team.tokens_per_credit))
    if team.budget_mode == BudgetMode.CONSUMPTION_USD:
        credits = (
            Decimal(client_cost) * Decimal(team.credits_per_dollar)
        ).to_integral_value(ROUND_CEILING)
        return max(MINIMUM_JOB_CHARGE, int(credits))
    return MINIMUM_JOB_CHARGE
