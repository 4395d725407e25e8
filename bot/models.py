from __future__ import annotations

from django.db import models


class ProcessedUpdate(models.Model):
    """
    A Telegram update accepted once. Telegram re-sends an update until it
    gets a 200, so the unique ``update_id`` is what makes handling idempotent:
    the row is inserted in the transaction that accepts the update, and a
    second insert of the same id fails instead of acting twice.

    The table keeps the name it had in ``integrations`` (where the model
    lived until issue #11), so existing rows stay where they are.
    """

    update_id = models.BigIntegerField(unique=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "integrations_processedupdate"
        ordering = ["-update_id"]

    def __str__(self) -> str:
        return f"update {self.update_id}"
