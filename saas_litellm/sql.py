"""Statements written out for the hot path: every LLM call runs a dozen of them.

Measured on this project's one-call job (a chat request: its call opened, then closed
and charged): the two short transactions took 15 ms through the ORM and under 4 ms as
the same statements written out, the difference being Python building each statement
again for every call. So the services on that path (jobs.services.calls and .jobs,
credits.services.holds) write their statements here, once: plain SQL that SQLite
(3.35 or later: RETURNING, aggregate FILTER) and PostgreSQL both run, with each
value adapted for the database by its model field, as the ORM would
(`Field.get_db_prep_save`). Everything else keeps the ORM. Table and column names
come from the models, never from a request: the f-strings below are not injectable.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def _current() -> BaseDatabaseWrapper:
    """This thread's connection itself. `connection` is a proxy that looks it up again
    at every attribute, and a field adapting a value reads several: an LLM call's
    two inserts took 81 µs to adapt their values through it, 37 without."""
    return connections[DEFAULT_DB_ALIAS]


def value(model: type[models.Model], field: str, given: Any) -> Any:
    """`given` as the database takes it for `model.field`."""
    return model._meta.get_field(field).get_db_prep_save(given, _current())


@lru_cache(maxsize=256)
def _converters(model: type[models.Model], field: str) -> tuple[Any, list[Any]]:
    target = model._meta.get_field(field)
    expression = target.get_col(model._meta.db_table)
    converters = connection.ops.get_db_converters(
        expression
    ) + target.get_db_converters(connection)
    return expression, converters


def read(model: type[models.Model], field: str, stored: Any) -> Any:
    """A column as read by a raw statement, as the model's field holds it (the
    converters the ORM would apply: SQLite's dates and decimals, JSON)."""
    expression, converters = _converters(model, field)
    for convert in converters:
        stored = convert(stored, expression, connection)
    return stored


@contextmanager
def pipelined() -> Iterator[None]:
    """Statements sent without waiting for the answers of those before them
    (psycopg's pipeline mode; PostgreSQL only): `rows`, `count` and `insert`,
    whose callers read the answer, wait for it and for every answer before it;
    `run` and `update` do not wait. Around a transaction, its BEGIN and COMMIT
    travel with the statements next to them. An error of a statement that was not
    waited for is raised by the next one that waits, or by the COMMIT (or a
    savepoint's release), and the transaction then ends; so only statements whose
    failure the caller does not handle itself, or handles once the transaction
    has ended, are `run` (or `insert_sent`). A one-call job's two transactions
    take 1 and 4 round trips this way, the commit's among them (BEGIN and COMMIT
    sent as statements: saas_litellm/postgresql/base.py; leaving the pipeline
    waits for nothing after a commit: _Pipeline; psycopg's own handling of a
    transaction in a pipeline took 5 and 8), and the team's account row, which
    each writes last, is held for 1 and 2 of them."""
    if connection.vendor != "postgresql" or pipeline_of() is not None:
        yield  # SQLite; or in a pipeline already, which this one joins
        return
    connection.ensure_connection()
    raw = connection.connection
    if raw._pipeline is None:  # psycopg's own when nested (its pipeline() reuses it)
        raw._pipeline = _Pipeline(raw, _no_lock=True)
    # An error that leaving raises (of a statement not waited for) as Django's.
    with connection.wrap_database_errors, raw.pipeline() as pipeline:
        _pipeline.current = pipeline
        try:
            yield
        finally:
            _pipeline.current = None


class _Pipeline(psycopg.Pipeline):
    """psycopg's pipeline, but leaving it waits only for what is unanswered. psycopg
    sends a Sync on leaving and waits for its answer even when every statement has
    been answered already, as after a transaction's COMMIT (saas_litellm/postgresql/
    base.py waits for it): a round trip that carried nothing, one per transaction.
    (Set as the connection's pipeline before psycopg's `pipeline()` makes its own,
    which it then uses; psycopg is pinned, and tests/test_sql_pipeline.py counts
    the round trips.)"""

    def _exit_gen(self) -> Any:
        if self.level == 1 and not self.command_queue and not self.result_queue:
            return
        yield from super()._exit_gen()


_pipeline = threading.local()


def pipeline_of() -> Any:
    return getattr(_pipeline, "current", None)


def answered() -> None:
    """Wait for the answers of the statements sent so far (in a pipeline)."""
    pipeline = pipeline_of()
    if pipeline is not None:
        with connection.wrap_database_errors:  # psycopg's errors as Django's
            pipeline.sync()


def pipeline_recover() -> None:
    """Out of an aborted pipeline (a statement failed): the statements sent after
    the failure are dropped, and the caller rolls back (to a savepoint)."""
    pipeline = pipeline_of()
    if pipeline is not None:
        with contextlib.suppress(psycopg.Error):
            pipeline.sync()


def violated(error: Exception) -> str:
    """What an IntegrityError broke: a constraint's name, or `table.column` for a
    NOT NULL column; '' when it names neither."""
    diag = getattr(error.__cause__, "diag", None)
    if diag is not None:  # psycopg
        if diag.constraint_name:
            return diag.constraint_name
        if diag.column_name:
            return f"{diag.table_name}.{diag.column_name}"
        return ""
    # SQLite: "CHECK constraint failed: <name>", "NOT NULL constraint failed: <t.c>"
    _, _, name = str(error).partition(" constraint failed: ")
    return name


def rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        answered()
        return cursor.fetchall() if cursor.description else []


def count(sql: str, params: list[Any]) -> int:
    """Run a write; the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        answered()
        return cursor.rowcount


def run(sql: str, params: list[Any]) -> None:
    """Run a write whose answer nobody reads (in a pipeline: without waiting)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def for_update(*, no_key: bool = False) -> str:
    """The row-lock clause of a SELECT (none on SQLite: a write locks the database)."""
    if not connection.features.has_select_for_update:
        return ""
    return " FOR NO KEY UPDATE" if no_key else " FOR UPDATE"


@lru_cache(maxsize=64)
def _insert_of(
    model: type[models.Model], via: tuple[tuple[str, str], ...] = ()
) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(
        field for field in model._meta.concrete_fields if not field.primary_key
    )
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    marks = []
    by = dict(via)
    for field in fields:
        if field.name not in by:
            marks.append("%s")
            continue
        target = field.related_model._meta
        marks.append(
            f"(SELECT {quote(target.pk.column)} FROM {quote(target.db_table)} "  # noqa: S608
            f"WHERE {quote(target.get_field(by[field.name]).column)} = %s)"
        )
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({', '.join(marks)}) RETURNING {quote(model._meta.pk.column)}"
    )
    return sql, fields


def _insert_params(
    instance: models.Model,
    fields: tuple[models.Field, ...],
    via: tuple[tuple[str, str], ...] = (),
) -> list[Any]:
    db = _current()
    if not via:
        return [
            field.get_db_prep_save(field.pre_save(instance, True), db)
            for field in fields
        ]
    by = dict(via)
    params = []
    for field in fields:
        if field.name in by:  # the unique value of the row it points to
            related = getattr(instance, field.name)
            key = related._meta.get_field(by[field.name])
            params.append(key.get_db_prep_save(getattr(related, key.attname), db))
        else:
            params.append(field.get_db_prep_save(field.pre_save(instance, True), db))
    return params


def _inserted(instance: models.Model) -> None:
    instance._state.adding = False
    instance._state.db = connection.alias


def insert(instance: models.Model, *, read_pk: bool = True) -> None:
    """INSERT the new `instance` (every column; no signals), setting its pk; with
    `read_pk=False` sent without waiting (see `run`), its pk left unset."""
    statement, fields = _insert_of(type(instance))
    params = _insert_params(instance, fields)
    if read_pk:
        ((pk,),) = rows(statement, params)
        instance.pk = pk
    else:
        run(statement.partition(" RETURNING ")[0], params)
    _inserted(instance)


def insert_sent(
    instance: models.Model, *, via: tuple[tuple[str, str], ...] = ()
) -> Callable[[], None]:
    """`insert`, sent without waiting (in a pipeline); what it answers sets the pk,
    called once the transaction has ended (its COMMIT waited for every answer, so
    this waits for nothing more). `via`: foreign keys given by a unique field of the
    row they point to, (("job", "job_id"),), for a row inserted by a statement sent
    before this one, whose pk is not known yet."""
    statement, fields = _insert_of(type(instance), via)
    params = _insert_params(instance, fields, via)
    cursor = connection.cursor()
    cursor.execute(statement, params)
    _inserted(instance)
    if pipeline_of() is None:  # not in a pipeline (SQLite): answered now
        ((instance.pk,),) = cursor.fetchall()
        cursor.close()
        return lambda: None

    def pk_set() -> None:
        with cursor:
            ((instance.pk,),) = cursor.fetchall()

    return pk_set


@lru_cache(maxsize=64)
def _update_of(
    model: type[models.Model], names: tuple[str, ...], condition: str
) -> tuple[str, tuple[models.Field, ...]]:
    fields = tuple(model._meta.get_field(name) for name in names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(model._meta.pk.column)} = %s"
    )
    return sql + (f" AND {condition}" if condition else ""), fields


def _update_params(instance: models.Model, fields: tuple[models.Field, ...]) -> list:
    db = _current()
    return [
        field.get_db_prep_save(field.pre_save(instance, False), db) for field in fields
    ] + [instance.pk]


def update(instance: models.Model, names: list[str]) -> None:
    """UPDATE `instance`'s row with the fields `names` (no signals; see `run`)."""
    sql, fields = _update_of(type(instance), tuple(names), "")
    run(sql, _update_params(instance, fields))


def update_where(
    instance: models.Model, names: list[str], condition: str, params: tuple[Any, ...]
) -> int:
    """`update`, when the row also meets `condition` (SQL of the caller's, with
    `params`); rows changed."""
    sql, fields = _update_of(type(instance), tuple(names), condition)
    return count(sql, [*_update_params(instance, fields), *params])


@contextmanager
def custom_plans() -> Iterator[None]:
    """A transaction in which PostgreSQL plans each statement for the values it is
    given. Statements run often on a connection are prepared (settings.py), and
    PostgreSQL then settles on one generic plan made for average values: on the
    read paths over skewed data (a team holding a third of the calls) that plan
    reads every row of the big team (a filtered request log 85 → 850 ms on 2 M
    calls). The hot path keeps its generic plans. Nothing to do on SQLite."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        yield
