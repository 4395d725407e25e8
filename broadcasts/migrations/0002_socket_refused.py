"""Broadcast.socket_refused: in-app socket pushes the channel layer refused, counted per broadcast."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('broadcasts', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='broadcast',
            name='socket_refused',
            field=models.PositiveIntegerField(default=0),
        ),
    ]
