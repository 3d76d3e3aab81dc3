"""`saas_litellm.sql.pipelined`: the hot path's transactions in psycopg's pipeline
mode. Statements whose answer is read wait for it; the others travel with the next
one; an error of one that was not waited for still ends the transaction."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from saas_litellm import sql

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def table(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE pipeline_t (id int PRIMARY KEY, n int)")
    return "pipeline_t"


def test_answers_read_in_a_pipeline_are_those_of_every_statement_before_them(table):
    with sql.pipelined(), transaction.atomic():
        sql.run("INSERT INTO pipeline_t VALUES (1, 10), (2, 20)", [])
        sql.run("UPDATE pipeline_t SET n = n + 1 WHERE id = %s", [1])
        with sql.pipelined():  # joins the one open
            assert sql.count("UPDATE pipeline_t SET n = n + 1", []) == 2
        assert sql.rows("SELECT id, n FROM pipeline_t ORDER BY id", []) == [
            (1, 12),
            (2, 21),
        ]
    assert sql.rows("SELECT sum(n) FROM pipeline_t", []) == [(33,)]


def test_an_error_not_waited_for_ends_the_transaction_at_the_next_wait(table):
    with (  # noqa: PT012
        pytest.raises(IntegrityError),
        sql.pipelined(),
        transaction.atomic(),
    ):
        sql.run("INSERT INTO pipeline_t VALUES (1, 1)", [])
        sql.run("INSERT INTO pipeline_t VALUES (1, 2)", [])  # a duplicate key
        sql.run("INSERT INTO pipeline_t VALUES (3, 3)", [])
        sql.rows("SELECT 1", [])
    assert sql.rows("SELECT count(*) FROM pipeline_t", []) == [(0,)]


def test_a_savepoint_rolled_back_in_a_pipeline_lets_its_transaction_go_on(db):
    """An error read from the ORM (a flush, not a sync) leaves the pipeline aborted:
    the savepoint's rollback must get it out of that state (the backend does), as
    the duplicate alert of a charge needs (alerts.services: its savepoint)."""
    user = get_user_model()
    with sql.pipelined(), transaction.atomic():
        user.objects.create(username="first")
        with pytest.raises(IntegrityError), transaction.atomic():
            user.objects.create(username="first")
        user.objects.create(username="second")
    assert sorted(user.objects.values_list("username", flat=True)) == [
        "first",
        "second",
    ]


def _error_at_the_end() -> None:
    with sql.pipelined(), transaction.atomic():
        sql.run("INSERT INTO pipeline_t VALUES (1, 1)", [])
        sql.run("INSERT INTO pipeline_t VALUES (1, 2)", [])  # nothing waits after it


def test_an_error_not_waited_for_is_raised_by_the_savepoints_release(table):
    with pytest.raises(IntegrityError):
        _error_at_the_end()
    assert sql.rows("SELECT count(*) FROM pipeline_t", []) == [(0,)]


@pytest.mark.django_db(transaction=True)
def test_an_error_not_waited_for_is_raised_by_the_commit():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE pipeline_t (id int PRIMARY KEY, n int)")
    try:
        with pytest.raises(IntegrityError):
            _error_at_the_end()
        assert sql.rows("SELECT count(*) FROM pipeline_t", []) == [(0,)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE pipeline_t")


@pytest.fixture
def syncs(monkeypatch) -> list[str]:
    """Each time psycopg waits for the server's answers in a pipeline: a sync, or
    leaving the pipeline (a round trip each)."""
    from psycopg._pipeline_base import BasePipeline

    waits: list[str] = []
    for name in ("_sync_gen", "_exit_gen"):
        original = getattr(BasePipeline, name)

        def counted(self, *args, original=original, name=name):
            waits.append(name)
            return (yield from original(self, *args))

        monkeypatch.setattr(BasePipeline, name, counted)
    return waits


@pytest.mark.django_db(transaction=True)
def test_a_transaction_in_a_pipeline_waits_once_for_its_commit(syncs):
    """BEGIN travels with the statements after it, COMMIT with those before it:
    the commit's wait is the transaction's only one (psycopg alone also waits on
    entering, after BEGIN and after COMMIT, and on leaving the pipeline: four
    more)."""
    user = get_user_model()
    with sql.pipelined():
        with transaction.atomic():
            sql.run("SELECT 1", [])
            user.objects.filter(username="nobody").update(is_active=False)
        assert syncs == ["_sync_gen"]  # the commit
        assert connection.get_autocommit()
        assert connection.connection.autocommit
    assert syncs == ["_sync_gen"]  # leaving, nothing was left to wait for


@pytest.mark.django_db(transaction=True)
def test_leaving_a_pipeline_waits_for_the_statements_not_yet_answered(syncs):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE pipeline_t (id int PRIMARY KEY, n int)")
    try:
        with sql.pipelined():
            sql.run("INSERT INTO pipeline_t VALUES (1, 1)", [])
        assert syncs == ["_exit_gen"]
        with pytest.raises(IntegrityError), sql.pipelined():
            sql.run("INSERT INTO pipeline_t VALUES (1, 2)", [])  # a duplicate key
        assert sql.rows("SELECT id, n FROM pipeline_t", []) == [(1, 1)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE pipeline_t")


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_transaction_in_a_pipeline_the_connection_goes_on():
    """The rollback of a transaction begun in a pipeline is psycopg's, which
    forgets its prepared statements and deallocates them at once (with a ROLLBACK
    sent as a statement instead, psycopg dropped them on reading its answer and
    deallocated them later: "prepared statement does not exist" under the burst
    of jobs/tests/test_three_processes.py, which this test did not reproduce);
    the connection is back in autocommit and its next transaction runs."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE pipeline_t (id int PRIMARY KEY, n int)")
    statement = "UPDATE pipeline_t SET n = n + 1 WHERE id = %s"
    try:
        for _ in range(3):  # prepared by the third
            sql.run(statement, [1])
        with pytest.raises(IntegrityError), sql.pipelined(), transaction.atomic():  # noqa: PT012
            sql.run("INSERT INTO pipeline_t VALUES (1, 1)", [])
            sql.run("INSERT INTO pipeline_t VALUES (1, 2)", [])  # a duplicate key
            sql.run(statement, [1])  # skipped by the server
        assert connection.get_autocommit()
        assert connection.connection.autocommit
        with sql.pipelined(), transaction.atomic():
            sql.run("INSERT INTO pipeline_t VALUES (1, 1)", [])
            assert sql.count(statement, [1]) == 1
        assert sql.rows("SELECT n FROM pipeline_t", []) == [(2,)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE pipeline_t")
