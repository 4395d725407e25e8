# Connection and Block now belong to the connections app (connections.0001_initial),
# which keeps their tables: forget them here without touching the database.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("users", "0001_initial"),
        ("connections", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Connection"),
                migrations.DeleteModel(name="Block"),
            ],
            database_operations=[],
        ),
    ]
