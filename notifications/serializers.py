"""
The one representation of a notification: REST answers and socket pushes
(``{"type": "notification", "notification": ...}``) both use it, so a pushed
notification is exactly what ``GET /api/v1/notifications/`` lists.
"""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "data", "created_at", "read_at"]
        read_only_fields = fields
