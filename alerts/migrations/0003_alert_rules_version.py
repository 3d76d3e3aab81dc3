"""A team's alert rules move the catalogue version too (teams.models.CatalogueVersion,
teams/migrations/0003_catalogue_version.py), so that a charge reads them from the
process's cache while the version read with the caller's key is unchanged.
PostgreSQL only, as the catalogue's own triggers."""

from django.db import migrations

TABLE = "alerts_alertsettings"
TRIGGERS = (
    (f"{TABLE}_catalogue_version", "BEFORE INSERT OR UPDATE OR DELETE"),
    (f"{TABLE}_catalogue_version_truncate", "AFTER TRUNCATE"),
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, when in TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER {name} {when} ON {TABLE} FOR EACH STATEMENT "
            "EXECUTE FUNCTION teams_catalogue_version_bump();",
            params=None,
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE};", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_budget_alerts"),
        ("teams", "0003_catalogue_version"),
    ]

    operations = [migrations.RunPython(forward, backward)]
