"""Every change of a team's credits goes through this package.

Each function owns a short transaction that locks the team's account row first and then
writes the ledger entry or hold in the same transaction, so concurrent requests can
never spend more than the team has and a job is never charged twice.

- `ledger`: the account row, ledger entries, allocations, adjustments and refunds.
- `budgets`: limits inside a team, on a key or an end user, carried by the holds.
- `holds`: a job's reservation, its capture (the one charge) or release, and expiry.
- `pricing`: a job's USD price and its charge in credits.
- `reconcile`: the check that accounts agree with their ledger and holds.
- `teams`: team onboarding (with its initial allocation), settings and listings.

Callers import from `credits.services`; the modules are its layout, not its interface.
"""

from __future__ import annotations

from credits.services.budgets import (
    MAX_BUDGET_CREDITS,
    BudgetState,
    budget_check,
    budget_get,
    budget_set,
    key_self,
    period_bounds,
)
from credits.services.holds import (
    RELEASE_STATUSES,
    credit_capture,
    credit_release,
    credit_reserve,
    credit_reserve_for_new_job,
    credit_reserve_refusals,
    holds_expire,
)
from credits.services.ledger import (
    CREDIT_ENTRY_TYPES,
    MAX_CREDITS_PER_OPERATION,
    credit_account_get,
    credit_add,
    credit_adjust,
    credit_refund,
)
from credits.services.pricing import (
    MINIMUM_JOB_CHARGE,
    USD_QUANTUM,
    client_cost_usd,
    credits_for_job,
)
from credits.services.reconcile import credit_account_problems, credits_reconcile
from credits.services.teams import (
    TEAM_SETTING_FIELDS,
    OnboardedTeam,
    team_allowed_model_names,
    team_budget_mode_set,
    team_onboard,
    team_settings_update,
    teams_with_accounts,
)

__all__ = [
    "CREDIT_ENTRY_TYPES",
    "MAX_BUDGET_CREDITS",
    "MAX_CREDITS_PER_OPERATION",
    "MINIMUM_JOB_CHARGE",
    "RELEASE_STATUSES",
    "TEAM_SETTING_FIELDS",
    "USD_QUANTUM",
    "BudgetState",
    "OnboardedTeam",
    "budget_check",
    "budget_get",
    "budget_set",
    "client_cost_usd",
    "credit_account_get",
    "credit_account_problems",
    "credit_add",
    "credit_adjust",
    "credit_capture",
    "credit_refund",
    "credit_release",
    "credit_reserve",
    "credit_reserve_for_new_job",
    "credit_reserve_refusals",
    "credits_for_job",
    "credits_reconcile",
    "holds_expire",
    "key_self",
    "period_bounds",
    "team_allowed_model_names",
    "team_budget_mode_set",
    "team_onboard",
    "team_settings_update",
    "teams_with_accounts",
]
