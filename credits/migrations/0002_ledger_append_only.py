"""Ledger rows are never updated or deleted: the database refuses it, not only habit.

PostgreSQL raises SQLSTATE 23000 (integrity_constraint_violation) and SQLite
RAISE(ABORT), so Django reports an IntegrityError on both. TRUNCATE is left alone on
purpose: it is what `flush` (and so the test runner) uses on PostgreSQL to wipe a
database, and it is not a way to change one team's history row by row.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION credits_ledgerentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'credits_ledgerentry is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER credits_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON credits_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION credits_ledgerentry_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS credits_ledgerentry_append_only ON credits_ledgerentry;
DROP FUNCTION IF EXISTS credits_ledgerentry_append_only();
"""
SQLITE_FORWARD = [
    """
    CREATE TRIGGER credits_ledgerentry_no_update
    BEFORE UPDATE ON credits_ledgerentry
    BEGIN SELECT RAISE(ABORT, 'credits_ledgerentry is append-only: UPDATE refused');
    END;
    """,
    """
    CREATE TRIGGER credits_ledgerentry_no_delete
    BEFORE DELETE ON credits_ledgerentry
    BEGIN SELECT RAISE(ABORT, 'credits_ledgerentry is append-only: DELETE refused');
    END;
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS credits_ledgerentry_no_update;",
    "DROP TRIGGER IF EXISTS credits_ledgerentry_no_delete;",
]


def _run(schema_editor, statements_by_vendor):
    statements = statements_by_vendor.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError(
            "credits: no append-only trigger for database "
            f"'{schema_editor.connection.vendor}'"
        )
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    _run(
        schema_editor,
        {"postgresql": [POSTGRES_FORWARD], "sqlite": SQLITE_FORWARD},
    )


def backward(apps, schema_editor):
    _run(
        schema_editor,
        {"postgresql": [POSTGRES_BACKWARD], "sqlite": SQLITE_BACKWARD},
    )


class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
