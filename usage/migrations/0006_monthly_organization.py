"""Each team's month carries the team's organization, so that organization usage over
a month reads that organization's rows by an index instead of every team's month."""

import django.db.models.deletion
from django.db import migrations, models


def organizations_fill(apps, schema_editor):  # noqa: ARG001
    UsageMonthly = apps.get_model("usage", "UsageMonthly")
    Team = apps.get_model("teams", "Team")
    UsageMonthly.objects.update(
        organization_id=models.Subquery(
            Team.objects.filter(pk=models.OuterRef("team_id")).values(
                "organization_id"
            )[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0006_payload_log_days"),
        ("usage", "0005_end_user_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="usagemonthly",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="teams.organization",
            ),
        ),
        migrations.RunPython(organizations_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="usagemonthly",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="teams.organization",
            ),
        ),
        migrations.AddIndex(
            model_name="usagemonthly",
            index=models.Index(
                fields=["organization", "month"], name="usage_monthly_org_month"
            ),
        ),
    ]
