from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.models import Connection, ConnectionStatus
from users.api.serializers import PublicProfileSerializer


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as one of its two people sees it; needs ``context["request"]``."""

    direction = serializers.SerializerMethodField()
    other = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = ["id", "status", "direction", "other", "message", "met_in_person", "created_at", "responded_at"]
        read_only_fields = fields

    def _me_id(self) -> int:
        return self.context["request"].user.pk

    @extend_schema_field(serializers.ChoiceField(choices=["incoming", "outgoing"]))
    def get_direction(self, connection: Connection) -> str:
        return "outgoing" if connection.from_user_id == self._me_id() else "incoming"

    @extend_schema_field(PublicProfileSerializer)
    def get_other(self, connection: Connection) -> dict:
        other = connection.to_user if connection.from_user_id == self._me_id() else connection.from_user
        return PublicProfileSerializer(other, context=self.context).data


class ConnectionCreateInputSerializer(serializers.Serializer):
    to_user = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    message = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ConnectionScanInputSerializer(serializers.Serializer):
    badge_code = serializers.CharField(max_length=32, trim_whitespace=True)


class ConnectionListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[ConnectionStatus.PENDING, ConnectionStatus.ACCEPTED], required=False)
    direction = serializers.ChoiceField(choices=["incoming", "outgoing"], required=False)


class BlockSerializer(serializers.Serializer):
    blocked = serializers.IntegerField(source="blocked_id")
    created_at = serializers.DateTimeField()
