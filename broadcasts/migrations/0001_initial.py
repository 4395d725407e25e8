"""
Broadcast and Delivery move here from ``notifications``: state only, the
tables (``notifications_broadcast``, ``notifications_delivery``) and their
index and constraint names stay as they are, so no row moves. Their content
types follow them, so admin permissions and log entries keep pointing at them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ["broadcast", "delivery"]


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(ContentType.objects.filter(app_label="broadcasts", model__in=MODELS).values_list("model", flat=True))
    ContentType.objects.filter(app_label="notifications", model__in=set(MODELS) - taken).update(app_label="broadcasts")


def return_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(ContentType.objects.filter(app_label="notifications", model__in=MODELS).values_list("model", flat=True))
    ContentType.objects.filter(app_label="broadcasts", model__in=set(MODELS) - taken).update(app_label="notifications")


STATUS_CHOICES = [
    ("scheduled", "Scheduled"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
    ("failed", "Failed"),
]
STATE_CHOICES = [
    ("pending", "Pending"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("notifications", "0005_telegramdelivery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Broadcast",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True)),
                        ("audience", models.JSONField(default=dict)),
                        ("channels", models.JSONField(default=list)),
                        ("send_at", models.DateTimeField(blank=True, help_text="Empty: send at once.", null=True)),
                        ("status", models.CharField(choices=STATUS_CHOICES, default="queued", max_length=10)),
                        ("total", models.PositiveIntegerField(default=0)),
                        ("sent", models.PositiveIntegerField(default=0)),
                        ("failed", models.PositiveIntegerField(default=0)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "notifications_broadcast",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["status", "send_at"], name="notificatio_status_6dc488_idx")],
                    },
                ),
                migrations.CreateModel(
                    name="Delivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "channel",
                            models.CharField(choices=[("in_app", "In-app"), ("telegram", "Telegram")], max_length=10),
                        ),
                        ("state", models.CharField(choices=STATE_CHOICES, default="pending", max_length=10)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("claimed_until", models.DateTimeField(blank=True, null=True)),
                        ("sending_at", models.DateTimeField(blank=True, null=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        (
                            "broadcast",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="broadcasts.broadcast",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "notifications_delivery",
                        "indexes": [
                            models.Index(
                                fields=["broadcast", "channel", "state", "id"], name="notificatio_broadca_eb759d_idx"
                            ),
                            models.Index(fields=["state", "next_attempt_at"], name="notificatio_state_ed5af9_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("broadcast__isnull", False)),
                                fields=("broadcast", "user", "channel"),
                                name="delivery_unique_per_broadcast",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, return_content_types),
    ]
