"""
The Telegram copies of ``notify`` get their own table, so the Delivery table
is left to broadcasts (which move to the ``broadcasts`` app in the next
migrations, keeping it). Rows with no broadcast are moved over with their
ids (queued ``send_telegram_deliveries`` messages name them), then the
Delivery table loses its ``notification`` column and its broadcast becomes
required.
"""

import django.db.models.deletion
from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models

FIELDS = [
    "id",
    "user_id",
    "channel",
    "state",
    "attempts",
    "next_attempt_at",
    "claimed_until",
    "sending_at",
    "sent_at",
    "error",
]


def _reset_sequence(schema_editor, model) -> None:
    # The rows kept their ids: the table's id sequence must start after them.
    for sql in schema_editor.connection.ops.sequence_reset_sql(no_style(), [model]):
        schema_editor.execute(sql)


def split_notify_rows(apps, schema_editor):
    Delivery = apps.get_model("notifications", "Delivery")
    TelegramDelivery = apps.get_model("notifications", "TelegramDelivery")
    rows = Delivery.objects.filter(broadcast__isnull=True).order_by("id")
    copies = [
        TelegramDelivery(notification_id=row.notification_id, **{f: getattr(row, f) for f in FIELDS})
        for row in rows.iterator(chunk_size=2000)
    ]
    TelegramDelivery.objects.bulk_create(copies, batch_size=2000)
    rows.delete()
    _reset_sequence(schema_editor, TelegramDelivery)


def join_notify_rows(apps, schema_editor):
    Delivery = apps.get_model("notifications", "Delivery")
    TelegramDelivery = apps.get_model("notifications", "TelegramDelivery")
    rows = TelegramDelivery.objects.order_by("id")
    Delivery.objects.bulk_create(
        [
            Delivery(broadcast=None, notification_id=row.notification_id, **{f: getattr(row, f) for f in FIELDS})
            for row in rows.iterator(chunk_size=2000)
        ],
        batch_size=2000,
    )
    rows.delete()
    _reset_sequence(schema_editor, Delivery)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_delivery_claimed_until"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TelegramDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("channel", models.CharField(choices=[("in_app", "In-app"), ("telegram", "Telegram")], max_length=10)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sending", "Sending"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("sending_at", models.DateTimeField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.CharField(blank=True, max_length=500)),
                (
                    "notification",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="telegram_deliveries",
                        to="notifications.notification",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={"indexes": [models.Index(fields=["state", "next_attempt_at"], name="notif_tgdelivery_due_idx")]},
        ),
        migrations.RunPython(split_notify_rows, join_notify_rows),
        migrations.RemoveField(model_name="delivery", name="notification"),
        migrations.AlterField(
            model_name="delivery",
            name="broadcast",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="deliveries", to="notifications.broadcast"
            ),
        ),
    ]
