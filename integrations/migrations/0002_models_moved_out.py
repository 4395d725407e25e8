"""
integrations keeps no models (issue #11): EnrichmentRun and AIUsage now
belong to ``users``, ProcessedUpdate to ``bot``. Their tables stay as they
are; only Django's state forgets them here.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("integrations", "0001_initial"),
        ("users", "0002_enrichment_models"),
        ("bot", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="EnrichmentRun"),
                migrations.DeleteModel(name="AIUsage"),
                migrations.DeleteModel(name="ProcessedUpdate"),
            ],
            database_operations=[],
        ),
    ]
