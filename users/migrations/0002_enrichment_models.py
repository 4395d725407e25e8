"""
EnrichmentRun and AIUsage move from ``integrations`` to ``users`` (issue #11).

Only Django's state moves: the tables keep their names
(``integrations_enrichmentrun``, ``integrations_aiusage``) and every row, and
the content types are relabelled so admin permissions and log entries follow.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ["enrichmentrun", "aiusage"]


def relabel_content_types(apps, schema_editor, *, source="integrations", target="users"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def unrelabel_content_types(apps, schema_editor):
    relabel_content_types(apps, schema_editor, source="users", target="integrations")


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("integrations", "0001_initial"),
        ("users", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AIUsage",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("day", models.DateField(unique=True)),
                        ("calls", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "verbose_name_plural": "AI usage",
                        "db_table": "integrations_aiusage",
                        "ordering": ["-day"],
                    },
                ),
                migrations.CreateModel(
                    name="EnrichmentRun",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "trigger",
                            models.CharField(
                                choices=[
                                    ("request", "Requested by the user"),
                                    ("profile", "Profile links changed"),
                                    ("admin", "Re-enrich by an admin"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("running", "Running"),
                                    ("done", "Done"),
                                    ("failed", "Failed"),
                                    ("skipped", "Skipped"),
                                    ("superseded", "Superseded by a newer run"),
                                ],
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("ai_called", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="enrichment_runs",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "integrations_enrichmentrun",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["user", "-created_at"], name="integration_user_id_f20ac3_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unrelabel_content_types),
    ]
