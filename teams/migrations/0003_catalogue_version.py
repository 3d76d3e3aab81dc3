"""The catalogue version (see teams.models.CatalogueVersion), bumped by triggers.

Statement-level triggers on every table a route plan is read from: any INSERT,
UPDATE, DELETE or TRUNCATE there moves the version forward, to at least the current
time in microseconds, so that it never returns to an earlier value even when the
row itself was truncated away (as the test runner's flush does). PostgreSQL only: on
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


def _trigger(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_catalogue_version "
        f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION teams_catalogue_version_bump();"
    )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)
    for table in CATALOGUE_TABLES:
        schema_editor.execute(_trigger(table), params=None)
    schema_editor.execute(
        "INSERT INTO teams_catalogueversion (id, version) VALUES "
        "(1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)",
        params=None,
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in CATALOGUE_TABLES:
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {table}_catalogue_version ON {table};",
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
