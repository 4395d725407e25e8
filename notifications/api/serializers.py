from __future__ import annotations

from rest_framework import serializers

from notifications.serializers import NotificationSerializer

__all__ = ["NotificationSerializer", "ReadAllSerializer", "UnreadCountSerializer"]


class UnreadCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class ReadAllSerializer(serializers.Serializer):
    updated = serializers.IntegerField()
