"""Indexes for the dashboard's history lists (newest first) and a team's jobs by
status. Built CONCURRENTLY on PostgreSQL, so adding them to a large live table does
not block writes (hence atomic = False); plain CREATE INDEX elsewhere (SQLite)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("credits", "0002_ledger_append_only"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="credithold",
            index=models.Index(
                fields=["-created_at", "-id"], name="credits_cre_created_9eae28_idx"
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="credithold",
            index=models.Index(
                fields=["account", "-created_at"], name="credits_cre_account_b0277e_idx"
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="ledgerentry",
            index=models.Index(
                fields=["-created_at", "-id"], name="credits_led_created_97b7e1_idx"
            ),
        ),
    ]
