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
        ("jobs", "0007_stored_responses"),
        ("teams", "0003_catalogue_version"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="job",
            index=models.Index(
                fields=["-created_at", "-id"], name="jobs_job_created_f3f2db_idx"
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="job",
            index=models.Index(
                fields=["team", "status", "-created_at"],
                name="jobs_job_team_id_9b5131_idx",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="llmcall",
            index=models.Index(
                fields=["-created_at", "-id"], name="jobs_llmcal_created_94fac6_idx"
            ),
        ),
    ]
