from __future__ import annotations

from rest_framework import serializers

from chats.models import ChatLink, ChatPurpose


class ChatLinkInputSerializer(serializers.Serializer):
    chat_id = serializers.IntegerField(help_text="Telegram's id of the group or channel (negative).")
    purpose = serializers.ChoiceField(choices=ChatPurpose.choices)

    def to_internal_value(self, data):
        # "-100123" as a string is how ids are often pasted; a float, bool or list is the wrong type.
        if isinstance(data, dict) and isinstance(data.get("chat_id"), bool | float | list | dict):
            raise serializers.ValidationError({"chat_id": ["A chat id is an integer."]})
        return super().to_internal_value(data)


class ChatLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChatLink
        fields = ["id", "chat_id", "title", "type", "purpose", "status"]
        read_only_fields = fields


class VisibleChatSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="link.pk")
    chat_id = serializers.IntegerField(source="link.chat_id")
    title = serializers.CharField(source="link.title")
    type = serializers.CharField(source="link.type")
    purpose = serializers.CharField(source="link.purpose")
    status = serializers.CharField(source="link.status")
    invite_link = serializers.CharField(
        allow_null=True, help_text="The caller's own link (join requests are decided by IBW); null when none."
    )
