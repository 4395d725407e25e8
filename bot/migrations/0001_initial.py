"""
ProcessedUpdate moves from ``integrations`` to ``bot`` (issue #11).

Only Django's state moves: the table keeps its name
(``integrations_processedupdate``) and every row, and the content type is
relabelled so admin permissions and log entries follow.
"""

from django.db import migrations, models


def relabel_content_type(apps, schema_editor, *, source="integrations", target="bot"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=target, model="processedupdate").exists():
        ContentType.objects.filter(app_label=source, model="processedupdate").update(app_label=target)


def unrelabel_content_type(apps, schema_editor):
    relabel_content_type(apps, schema_editor, source="bot", target="integrations")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProcessedUpdate",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("update_id", models.BigIntegerField(unique=True)),
                        ("payload", models.JSONField()),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("handled_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "integrations_processedupdate",
                        "ordering": ["-update_id"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_type, unrelabel_content_type),
    ]
