"""Billing lives in the Python services only: the PL/pgSQL one-call functions of
0004 are dropped. Token columns become 64-bit, and a call records whether its usage
is an estimate (the provider sent none, or more than the reservation's worst case)."""

import importlib

from django.db import migrations, models

FUNCTIONS = ("one_call_job_close", "one_call_job_open", "credits_for_job")


def drop_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name} CASCADE;", params=None)


def recreate_functions(apps, schema_editor):
    importlib.import_module("jobs.migrations.0004_one_call_functions").forward(
        apps, schema_editor
    )


class Migration(migrations.Migration):
    dependencies = [("jobs", "0004_one_call_functions")]

    operations = [
        migrations.RunPython(drop_functions, recreate_functions),
        migrations.AlterField(
            model_name="llmcall",
            name="prompt_tokens",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="llmcall",
            name="completion_tokens",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="llmcall",
            name="total_tokens",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="llmcall",
            name="reserved_tokens",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="llmcall",
            name="usage_estimated",
            field=models.BooleanField(default=False),
        ),
    ]
