# The models moved here from the users app; their tables stay where they are.
# State only: the database already holds users_connection and users_block
# (created by users.0001_initial) with these constraints and indexes.

import django.db.models.deletion
import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models

MOVED = ("connection", "block")


def move_content_types(apps, schema_editor):
    """Keep the content types (and the permissions and admin history on them) of the moved models."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="connections", model=model).exists():
            ContentType.objects.using(db).filter(app_label="users", model=model).update(app_label="connections")


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="users", model=model).exists():
            ContentType.objects.using(db).filter(app_label="connections", model=model).update(app_label="users")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("users", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Connection",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("status", models.CharField(choices=[("pending", "Pending"), ("accepted", "Accepted"), ("declined", "Declined")], default="pending", max_length=10)),
                        ("message", models.CharField(blank=True, max_length=500)),
                        ("met_in_person", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("responded_at", models.DateTimeField(blank=True, null=True)),
                        ("from_user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="connections_sent", to=settings.AUTH_USER_MODEL)),
                        ("to_user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="connections_received", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "users_connection",
                        "indexes": [
                            models.Index(fields=["to_user", "status"], name="users_conne_to_user_c46000_idx"),
                            models.Index(fields=["from_user", "status"], name="users_conne_from_us_e4e7ca_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(django.db.models.functions.comparison.Least("from_user", "to_user"), django.db.models.functions.comparison.Greatest("from_user", "to_user"), name="connection_unique_pair"),
                            models.CheckConstraint(condition=models.Q(("from_user", models.F("to_user")), _negated=True), name="connection_not_self"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Block",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("blocked", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="blocks_received", to=settings.AUTH_USER_MODEL)),
                        ("blocker", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="blocks_made", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "users_block",
                        "constraints": [
                            models.UniqueConstraint(fields=("blocker", "blocked"), name="block_unique"),
                            models.CheckConstraint(condition=models.Q(("blocker", models.F("blocked")), _negated=True), name="block_not_self"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back, elidable=False),
    ]
