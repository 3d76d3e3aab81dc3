"""The database itself refuses to change or remove ledger rows (a trigger, on both
PostgreSQL and SQLite): run the suite on each to check each."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from credits.models import LedgerEntry
from credits.services import credit_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(make_team) -> LedgerEntry:
    return credit_add(team=make_team(), credits=10, reason="original")


def test_saving_a_changed_ledger_entry_is_refused(entry):
    entry.reason = "rewritten"
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entry.save()
    assert LedgerEntry.objects.get(pk=entry.pk).reason == "original"


def test_a_queryset_update_of_the_ledger_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1_000_000)
    assert LedgerEntry.objects.get(pk=entry.pk).amount == 10


def test_deleting_a_ledger_entry_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entry.delete()
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_a_queryset_delete_of_the_ledger_is_refused(entry):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.count() == 1
