"""
Connections between people, and blocks.

Both tables were created by the ``users`` app and keep their names
(``users_connection``, ``users_block``) and index names: the models moved
app, the rows did not (see ``connections/migrations/0001_initial.py``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least


class ConnectionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class Connection(models.Model):
    """One connection per pair of people, whichever side asked."""

    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections_sent")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections_received")
    status = models.CharField(max_length=10, choices=ConnectionStatus.choices, default=ConnectionStatus.PENDING)
    message = models.CharField(max_length=500, blank=True)
    met_in_person = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "users_connection"
        constraints = [
            models.UniqueConstraint(
                Least("from_user", "to_user"), Greatest("from_user", "to_user"), name="connection_unique_pair"
            ),
            models.CheckConstraint(condition=~Q(from_user=F("to_user")), name="connection_not_self"),
        ]
        # Named as the users app once generated them, so the existing indexes are these.
        indexes = [
            models.Index(fields=["to_user", "status"], name="users_conne_to_user_c46000_idx"),
            models.Index(fields=["from_user", "status"], name="users_conne_from_us_e4e7ca_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.from_user_id} → {self.to_user_id} ({self.status})"


class Block(models.Model):
    """``blocker`` hides from ``blocked`` and ``blocked`` from ``blocker``; only the blocker knows."""

    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_made")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks_received")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "users_block"
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"
