"""Deployments: an alias's own fields are its first deployment, `Deployment` rows any
further ones; each alias chooses how its deployments share the traffic. The new
table moves the catalogue version like the others (see 0003_catalogue_version)."""

import importlib

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

_version = importlib.import_module("teams.migrations.0003_catalogue_version")


def triggers_add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for trigger in _version._triggers("teams_deployment"):
        schema_editor.execute(trigger, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0003_catalogue_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelalias",
            name="context_window_fallback",
            field=models.CharField(
                blank=True,
                help_text="Alias that takes prompts too long for this alias's deployments.",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="modelalias",
            name="routing_strategy",
            field=models.CharField(
                choices=[
                    ("weighted", "Weighted"),
                    ("least_busy", "Least busy"),
                    ("lowest_latency", "Lowest latency"),
                ],
                default="weighted",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="modelalias",
            name="rpm",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Requests per minute this deployment takes.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelalias",
            name="tpm",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Tokens per minute this deployment takes.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="modelalias",
            name="weight",
            field=models.PositiveIntegerField(
                default=1,
                help_text="Share of the traffic among the alias's deployments (weighted).",
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.AlterField(
            model_name="modelalias",
            name="credential",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="teams.providercredential",
            ),
        ),
        migrations.CreateModel(
            name="Deployment",
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
                (
                    "actual_model",
                    models.CharField(
                        help_text="A litellm model string, e.g. openai/gpt-4o-mini.",
                        max_length=200,
                    ),
                ),
                ("api_base", models.URLField(blank=True, max_length=500)),
                (
                    "pricing_input",
                    models.DecimalField(
                        blank=True,
                        decimal_places=6,
                        help_text="USD per million input tokens; empty uses litellm's price table.",
                        max_digits=12,
                        null=True,
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
                (
                    "pricing_output",
                    models.DecimalField(
                        blank=True,
                        decimal_places=6,
                        help_text="USD per million output tokens; empty uses litellm's price table.",
                        max_digits=12,
                        null=True,
                        validators=[django.core.validators.MinValueValidator(0)],
                    ),
                ),
                (
                    "weight",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Share of the traffic among the alias's deployments (weighted).",
                        validators=[django.core.validators.MinValueValidator(1)],
                    ),
                ),
                (
                    "rpm",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Requests per minute this deployment takes.",
                        null=True,
                    ),
                ),
                (
                    "tpm",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Tokens per minute this deployment takes.",
                        null=True,
                    ),
                ),
                ("position", models.PositiveSmallIntegerField()),
                (
                    "alias",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deployments",
                        to="teams.modelalias",
                    ),
                ),
                (
                    "credential",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="teams.providercredential",
                    ),
                ),
            ],
            options={
                "ordering": ["alias", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("alias", "position"), name="deployment_position_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("pricing_input__gte", 0),
                                ("pricing_input__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                ("pricing_output__gte", 0),
                                ("pricing_output__isnull", True),
                                _connector="OR",
                            ),
                        ),
                        name="deployment_pricing_not_negative",
                    ),
                ],
            },
        ),
        migrations.RunPython(triggers_add, migrations.RunPython.noop),
    ]
