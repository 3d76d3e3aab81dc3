"""The "viewer" group: staff who see the whole dashboard and change nothing.

It holds every view_* permission of the project's own apps (teams, credits, jobs).
The migration lives in `jobs`, the last app of the import chain, so it can depend on
the latest migrations of all three. Permissions are normally created after `migrate`
finishes (post_migrate), so they are created here first. Nothing secret can be shown
to a viewer: keys are stored as digests and provider secrets are never rendered.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER_GROUP = "viewer"
PROJECT_APPS = ("teams", "credits", "jobs")


def viewer_group_create(apps, schema_editor) -> None:
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=VIEWER_GROUP)
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label__in=PROJECT_APPS, codename__startswith="view_"
        )
    )


def viewer_group_delete(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name=VIEWER_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("teams", "0002_virtual_key_idempotency"),
        ("credits", "0002_ledger_append_only"),
        ("jobs", "0002_call_reservation"),
    ]

    operations = [migrations.RunPython(viewer_group_create, viewer_group_delete)]
