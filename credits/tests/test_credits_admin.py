from __future__ import annotations

import re
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from credits.models import LedgerEntry
from teams.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db) -> Client:
    user = get_user_model().objects.create_superuser(
        "operator", "operator@example.com", "a-long-test-password"
    )
    client = Client()
    client.force_login(user)
    return client


def add_credits_url(team) -> str:
    return reverse(
        "admin:credits_creditaccount_add_credits", args=[team.credit_account.pk]
    )


def form_token(operator, team) -> str:
    page = operator.get(add_credits_url(team)).content.decode()
    return re.search(r'name="token" value="([0-9a-f-]+)"', page).group(1)


def test_the_account_list_shows_balances_and_an_add_credits_button(operator, team):
    page = operator.get(reverse("admin:credits_creditaccount_changelist"))
    assert page.status_code == HTTPStatus.OK
    assert "Add credits" in page.content.decode()


def test_adding_credits_in_the_dashboard_writes_one_ledger_entry(operator, team):
    response = operator.post(
        add_credits_url(team),
        {"credits": 25, "reason": "promo", "token": form_token(operator, team)},
    )
    assert response.status_code == HTTPStatus.FOUND
    entry = LedgerEntry.objects.filter(account__team=team).first()
    assert (entry.amount, entry.reason, entry.actor) == (25, "promo", "admin:operator")


def test_a_double_submit_of_the_add_credits_form_adds_once(operator, team):
    form = {"credits": 25, "reason": "promo", "token": form_token(operator, team)}
    operator.post(add_credits_url(team), form)
    operator.post(add_credits_url(team), form)
    team.credit_account.refresh_from_db()
    assert team.credit_account.credits_allocated == 125


def test_a_bad_amount_in_the_form_adds_nothing(operator, team):
    token = form_token(operator, team)
    response = operator.post(add_credits_url(team), {"credits": 0, "token": token})
    assert response.status_code == HTTPStatus.OK
    assert LedgerEntry.objects.filter(account__team=team).count() == 1


def test_a_staff_user_without_the_permission_cannot_add_credits(team):
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.get(add_credits_url(team))
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("model", ["ledgerentry", "credithold", "creditaccount"])
def test_ledger_holds_and_accounts_cannot_be_added_in_the_dashboard(operator, model):
    response = operator.get(reverse(f"admin:credits_{model}_add"))
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_a_ledger_entry_is_shown_read_only_and_cannot_be_changed_or_deleted(
    operator, team
):
    entry = LedgerEntry.objects.get(account__team=team)
    change_url = reverse("admin:credits_ledgerentry_change", args=[entry.pk])
    assert 'name="reason"' not in operator.get(change_url).content.decode()
    assert (
        operator.post(change_url, {"reason": "x"}).status_code == HTTPStatus.FORBIDDEN
    )
    delete_url = reverse("admin:credits_ledgerentry_delete", args=[entry.pk])
    assert (
        operator.post(delete_url, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    )
    assert LedgerEntry.objects.get(pk=entry.pk).reason == entry.reason


def test_the_add_credits_action_opens_the_form_for_one_selected_account(operator, team):
    response = operator.post(
        reverse("admin:credits_creditaccount_changelist"),
        {"action": "add_credits_action", "_selected_action": [team.credit_account.pk]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == add_credits_url(team)


def test_adding_credits_in_the_dashboard_is_audit_logged_once(operator, team):
    form = {"credits": 7, "reason": "goodwill", "token": form_token(operator, team)}
    operator.post(add_credits_url(team), form)
    operator.post(add_credits_url(team), form)
    entry = AuditLog.objects.get(action="credits.add", actor="admin:operator")
    assert entry.object_id == team.team_id
    assert entry.after["credits"] == 7


def test_a_viewer_sees_accounts_without_add_credits_buttons_or_action(team):
    user = get_user_model().objects.create_user("looker", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    page = client.get(reverse("admin:credits_creditaccount_changelist"))
    assert page.status_code == HTTPStatus.OK
    assert "Add credits" not in page.content.decode()
    assert 'name="action"' not in page.content.decode()
