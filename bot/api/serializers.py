from __future__ import annotations

from rest_framework import serializers


class TelegramUpdateInputSerializer(serializers.Serializer):
    """A Telegram ``Update``: only ``update_id`` is required; the rest is read by the bot's handlers."""

    update_id = serializers.IntegerField(min_value=0)
    message = serializers.DictField(required=False)


class WebhookAckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
