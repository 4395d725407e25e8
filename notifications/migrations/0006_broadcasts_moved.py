"""Broadcast and Delivery now belong to ``broadcasts`` (same tables): drop them from this app's state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_telegramdelivery"),
        ("broadcasts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Delivery"),
                migrations.DeleteModel(name="Broadcast"),
            ],
            database_operations=[],
        ),
    ]
