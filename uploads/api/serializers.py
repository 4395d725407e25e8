from __future__ import annotations

from rest_framework import serializers

from uploads.models import UploadPurpose


class UploadCreateInputSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=UploadPurpose.choices)
    # Any string: a type other than JPEG, PNG or WebP is a 415, not a 400.
    content_type = serializers.CharField(max_length=100)
    size = serializers.IntegerField(min_value=1, help_text="The file's exact size in bytes.")


class UploadTargetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    method = serializers.ChoiceField(choices=["POST", "PUT"])
    url = serializers.URLField()
    fields = serializers.DictField(
        child=serializers.CharField(), help_text="Form fields to send before the file (POST); empty for PUT."
    )
    headers = serializers.DictField(child=serializers.CharField(), help_text="Headers to send with the request.")
    expires_at = serializers.DateTimeField()


class UploadReadySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField()
