"""Credits routes, and the team routes whose answers report balances (see api.py)."""

from __future__ import annotations

from django.urls import path

import saas_litellm.converters  # noqa: F401 - registers the <slug_id:…> converter
from credits import api

urlpatterns = [
    path("api/teams/create", api.TeamCreateView.as_view(), name="team-create"),
    path("api/teams", api.TeamListView.as_view(), name="team-list"),
    path(
        "api/teams/<slug_id:team_id>", api.TeamDetailView.as_view(), name="team-detail"
    ),
    path(
        "api/teams/<slug_id:team_id>/keys/<str:key_id>/budget",
        api.KeyBudgetView.as_view(),
        name="key-budget",
    ),
    path(
        "api/teams/<slug_id:team_id>/end-users/<str:user_id>/budget",
        api.EndUserBudgetView.as_view(),
        name="end-user-budget",
    ),
    path("api/keys/self", api.KeySelfView.as_view(), name="key-self"),
    path("api/credits/balance", api.BalanceQueryView.as_view(), name="credit-balance"),
    path(
        "api/credits/teams/<slug_id:team_id>/balance",
        api.TeamBalanceView.as_view(),
        name="credit-team-balance",
    ),
    path(
        "api/credits/teams/<slug_id:team_id>/transactions",
        api.TransactionsView.as_view(),
        name="credit-transactions",
    ),
    path(
        "api/credits/teams/<slug_id:team_id>/add",
        api.CreditAddView.as_view(),
        name="credit-add",
    ),
    path(
        "api/credits/teams/<slug_id:team_id>/replenish",
        api.ReplenishView.as_view(),
        name="credit-replenish",
    ),
    path(
        "api/credits/teams/<slug_id:team_id>/budget-mode",
        api.BudgetModeView.as_view(),
        name="credit-budget-mode",
    ),
]
