from __future__ import annotations

import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from users.models import User

_TWITTER_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def avatar_url(user: User, request=None) -> str | None:
    if user.avatar:
        url = user.avatar.url
        return request.build_absolute_uri(url) if request is not None and url.startswith("/") else url
    return user.photo_url or None


class PublicProfileSerializer(serializers.ModelSerializer):
    """What anyone logged in may see of a person."""

    display_name = serializers.CharField(source="get_display_name", read_only=True)
    avatar_url = serializers.SerializerMethodField()
    roles = serializers.ListField(source="get_roles", child=serializers.CharField(), read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "display_name",
            "bio",
            "company",
            "job_title",
            "twitter",
            "linkedin",
            "interests",
            "avatar_url",
            "roles",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user, self.context.get("request"))


class UserSummarySerializer(serializers.ModelSerializer):
    """A person as shown in lists: hosts, leaderboards."""

    display_name = serializers.CharField(source="get_display_name", read_only=True)
    avatar_url = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "display_name", "avatar_url"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_avatar_url(self, user: User) -> str | None:
        return avatar_url(user, self.context.get("request"))


class EnrichmentSerializer(serializers.Serializer):
    status = serializers.CharField(source="enrichment_status")
    summary = serializers.CharField(source="enrichment_summary")
    tags = serializers.ListField(source="enrichment_tags", child=serializers.CharField())


class MeSerializer(PublicProfileSerializer):
    """The caller's own profile and settings."""

    display_name = serializers.CharField(source="get_display_name", read_only=True)
    interests = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=False), max_length=30, required=False
    )
    enrichment = EnrichmentSerializer(source="*", read_only=True)

    class Meta(PublicProfileSerializer.Meta):
        fields = [
            *PublicProfileSerializer.Meta.fields,
            "telegram_id",
            "notify_telegram",
            "directory_visible",
            "points",
            "enrichment",
        ]
        read_only_fields = ["id", "telegram_id", "username", "roles", "points", "avatar_url", "enrichment"]


class MeUpdateInputSerializer(serializers.ModelSerializer):
    """Writable profile fields; a person's display name overrides first + last name."""

    interests = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=False), max_length=30, required=False
    )

    class Meta:
        model = User
        fields = [
            "first_name",
            "last_name",
            "display_name",
            "bio",
            "company",
            "job_title",
            "twitter",
            "linkedin",
            "interests",
            "notify_telegram",
            "directory_visible",
        ]

    def validate_twitter(self, value: str) -> str:
        value = value.strip().removeprefix("https://x.com/").removeprefix("https://twitter.com/").lstrip("@")
        if value and not _TWITTER_HANDLE.match(value):
            raise serializers.ValidationError("Enter an X/Twitter handle such as @ibw_week.")
        return value

    def validate_linkedin(self, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^(https://(www\.)?linkedin\.com/in/[\w\-%]+/?|[\w\-]{3,100})$", value):
            raise serializers.ValidationError("Enter a LinkedIn profile URL or handle.")
        return value

    def validate_interests(self, value: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for item in value:
            seen.setdefault(item.strip().lower(), item.strip())
        return list(seen.values())


class AvatarInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)


class AvatarFromUploadInputSerializer(serializers.Serializer):
    upload = serializers.IntegerField(min_value=1, help_text="A completed direct upload of purpose avatar.")


class AvatarSerializer(serializers.Serializer):
    avatar_url = serializers.URLField(allow_null=True)


class TelegramWidgetInputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField(max_length=256, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=256, required=False, allow_blank=True)
    username = serializers.CharField(max_length=64, required=False, allow_blank=True)
    photo_url = serializers.CharField(max_length=1024, required=False, allow_blank=True)
    auth_date = serializers.IntegerField()
    hash = serializers.CharField(max_length=128)


class TelegramWebAppInputSerializer(serializers.Serializer):
    init_data = serializers.CharField(max_length=8192)


class TelegramOidcInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=2048)
    code_verifier = serializers.CharField(min_length=43, max_length=128)
    redirect_uri = serializers.URLField(max_length=2048)


class TelegramOidcConfigSerializer(serializers.Serializer):
    issuer = serializers.CharField()
    client_id = serializers.CharField()
    authorization_endpoint = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginSerializer(TokenPairSerializer):
    user = MeSerializer()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class BotLoginSerializer(serializers.Serializer):
    token = serializers.CharField()
    deep_link = serializers.CharField()
    expires_at = serializers.DateTimeField()


class BotLoginStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "confirmed"])
    access = serializers.CharField(required=False)
    refresh = serializers.CharField(required=False)
    user = MeSerializer(required=False)


class EnrichmentStatusSerializer(serializers.Serializer):
    status = serializers.CharField(source="enrichment_status")
    summary = serializers.CharField(source="enrichment_summary")
    tags = serializers.ListField(source="enrichment_tags", child=serializers.CharField())
