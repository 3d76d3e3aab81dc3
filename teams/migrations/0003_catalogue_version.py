"""The catalogue version (see teams.models.CatalogueVersion), bumped by triggers.

Every table a route plan is read from gets a BEFORE statement trigger: a statement
that inserts, updates or deletes rows there first moves the version forward, to at
least the current time in microseconds, so that it never returns to an earlier value
(not even after the row was truncated away, as the test runner's flush does; an
AFTER TRUNCATE trigger bumps it then). The new version becomes visible when the
change commits, with the change itself. The version row is locked before the
statement locks any row of its own, so catalogue edits queue on it instead of
deadlocking over each other's rows; services that lock catalogue rows before
writing take it first (teams.services.catalogue.catalogue_lock). PostgreSQL only: on
SQLite the table stays empty and route plans are not cached.
"""

from django.db import migrations, models

CATALOGUE_TABLES = (
    "teams_modelalias",
    "teams_modelalias_access_groups",
    "teams_modelaccessgroup",
    "teams_team_access_groups",
    "teams_providercredential",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION teams_catalogue_version_bump() RETURNS trigger AS $$
DECLARE
    now_us bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
BEGIN
    INSERT INTO teams_catalogueversion (id, version) VALUES (1, now_us)
    ON CONFLICT (id) DO UPDATE
        SET version = greatest(teams_catalogueversion.version + 1, now_us);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_catalogue_version "
        f"BEFORE INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION teams_catalogue_version_bump();",
        f"CREATE TRIGGER {table}_catalogue_version_truncate "
        f"AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION teams_catalogue_version_bump();",
    ]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in CATALOGUE_TABLES:
        for trigger in _triggers(table):
            schema_editor.execute(trigger, params=None)
    schema_editor.execute(
        "INSERT INTO teams_catalogueversion (id, version) VALUES "
        "(1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)",
        params=None,
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in CATALOGUE_TABLES:
        for suffix in ("", "_truncate"):
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_catalogue_version{suffix} ON {table};",
                params=None,
            )
    schema_editor.execute(
        "DROP FUNCTION IF EXISTS teams_catalogue_version_bump();", params=None
    )


class Migration(migrations.Migration):
    dependencies = [("teams", "0002_virtual_key_idempotency")]

    operations = [
        migrations.CreateModel(
            name="CatalogueVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("version", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(forward, backward),
    ]
