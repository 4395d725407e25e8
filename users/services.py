"""Writes for users: login, tokens, profile (which may request an enrichment), avatar, the bot's chat."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from ibw.errors import NotFound, PayloadTooLarge, UnsupportedMediaType
from integrations import telegram_oidc
from integrations.errors import OidcFailed
from uploads.models import UploadPurpose
from uploads.services import consume_upload
from users.enrichment import request_enrichment
from users.errors import (
    InvalidRefreshToken,
    LoginTokenExpired,
    LoginTokenUsed,
    TelegramAuthInvalid,
    TelegramLoginDisabled,
)
from users.models import BotLoginToken, EnrichmentTrigger, User
from users.telegram_auth import TelegramIdentity, verify_webapp_init_data, verify_widget

logger = structlog.get_logger(__name__)

AVATAR_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Larger images are refused before decoding: a small PNG can inflate to gigabytes.
AVATAR_MAX_PIXELS = 40_000_000


def _bot_token() -> str:
    if not settings.TELEGRAM_BOT_TOKEN:
        raise TelegramLoginDisabled()
    return settings.TELEGRAM_BOT_TOKEN


def upsert_telegram_user(identity: TelegramIdentity, *, chat_id: int | None = None) -> User:
    """
    Return the user with ``identity.id``, creating them on first sight.

    Telegram is the source of the handle and photo, refreshed on every login;
    names are taken only at creation, since people edit them in their profile.
    Safe under concurrent first logins (the unique ``telegram_id`` decides).
    """
    defaults: dict[str, Any] = {"username": identity.username, "photo_url": identity.photo_url}
    if chat_id is not None:
        defaults["telegram_chat_id"] = chat_id
    create_defaults = {**defaults, "first_name": identity.first_name, "last_name": identity.last_name}
    try:
        user, _ = User.objects.update_or_create(
            telegram_id=identity.id, defaults=defaults, create_defaults=create_defaults
        )
    except IntegrityError:
        # Another request created the same user between our SELECT and INSERT.
        User.objects.filter(telegram_id=identity.id).update(**defaults)
        user = User.objects.get(telegram_id=identity.id)
    return user


def ensure_superuser(email: str, *, password: str, **fields: Any) -> tuple[User, bool]:
    """
    Return the user with ``email``, creating them as a superuser (staff, can
    open the admin) with ``password`` when missing; the bool says whether
    they were created. An existing user is left as is.
    """
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user, False
    return User.objects.create_superuser(email, password, **fields), True


def find_user(identifier: str) -> User | None:
    """The user with this Telegram id (digits) or email (anything with an ``@``); None when there is none."""
    identifier = identifier.strip()
    if identifier.isdigit():
        return User.objects.filter(telegram_id=int(identifier)).first()
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier).first()
    raise ValueError("Give a Telegram id (digits) or an email address.")


def ensure_demo_attendee(identifier: str) -> tuple[User, bool]:
    """
    Return the user with this Telegram id or email, creating a demo attendee
    ("Demo Attendee", no password) when there is none; the bool says whether
    they were created. Safe when two calls race (the unique column decides).
    Raises ``ValueError`` for an identifier that is neither.
    """
    found = find_user(identifier)
    if found is not None:
        return found, False
    identifier = identifier.strip()
    fields: dict[str, Any] = {"first_name": "Demo", "last_name": "Attendee", "roles": ["attendee"]}
    try:
        with transaction.atomic():
            if identifier.isdigit():
                return User.objects.create_user(telegram_id=int(identifier), **fields), True
            return User.objects.create_user(identifier, **fields), True
    except IntegrityError:
        user = find_user(identifier)
        if user is None:
            raise
        return user, False


def issue_tokens(user: User) -> dict[str, str]:
    """A new access and refresh token pair for ``user`` (the refresh token is recorded, so it can be revoked)."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def widget_identity(fields: dict) -> TelegramIdentity:
    """Verify a Login Widget payload (401 on a bad or stale signature); no side effects."""
    return verify_widget(fields, bot_token=_bot_token(), max_age=settings.TELEGRAM_LOGIN_MAX_AGE)


def webapp_identity(init_data: str) -> TelegramIdentity:
    """Verify a Mini App's ``initData`` (401 on a bad or stale signature); no side effects."""
    return verify_webapp_init_data(init_data, bot_token=_bot_token(), max_age=settings.TELEGRAM_LOGIN_MAX_AGE)


def login_with_widget(fields: dict) -> User:
    """Verify a Login Widget payload (401 on a bad or stale signature) and return its user."""
    return upsert_telegram_user(widget_identity(fields))


def login_with_webapp(init_data: str) -> User:
    """Verify a Mini App's ``initData`` (401 on a bad or stale signature) and return its user."""
    return upsert_telegram_user(webapp_identity(init_data))


def oidc_identity(*, code: str, code_verifier: str, redirect_uri: str) -> TelegramIdentity:
    """
    Exchange a Telegram OpenID Connect authorization code (with its PKCE
    verifier) at the issuer, verify the ID token and return the Telegram
    identity of its ``id`` claim (``sub`` is not the user id): the same person
    as a widget, Mini App or bot login once ``upsert_telegram_user`` has it.
    Any failure raises ``TelegramAuthInvalid`` (401); the reason is logged.
    """
    try:
        claims = telegram_oidc.exchange_code(code=code, code_verifier=code_verifier, redirect_uri=redirect_uri)
    except OidcFailed as exc:
        logger.info("telegram_oidc_refused", reason=exc.reason)
        raise TelegramAuthInvalid("The Telegram login could not be verified.") from None
    telegram_id = claims.get("id")
    if isinstance(telegram_id, str) and telegram_id.isdigit():
        telegram_id = int(telegram_id)
    if not isinstance(telegram_id, int) or isinstance(telegram_id, bool) or telegram_id <= 0:
        logger.info("telegram_oidc_refused", reason="the ID token has no numeric id claim")
        raise TelegramAuthInvalid("The Telegram login could not be verified.")
    first, _, last = str(claims.get("name") or "").partition(" ")
    identity = TelegramIdentity(
        id=telegram_id,
        first_name=str(claims.get("given_name") or first)[:150],
        last_name=str(claims.get("family_name") or last)[:150],
        username=str(claims.get("preferred_username") or "")[:64],
        photo_url=str(claims.get("picture") or "")[:500],
    )
    return identity


def rotate_refresh_token(raw: str) -> dict[str, str]:
    """
    Exchange a refresh token for a new pair and blacklist the old one.

    Exactly one of several concurrent refreshes with the same token wins: the
    blacklist row is unique per token, and the loser gets ``INVALID_TOKEN``.
    """
    try:
        old = RefreshToken(raw)  # type: ignore[arg-type]  # the stubs omit the encoded-string form
        user_id = old[settings.SIMPLE_JWT.get("USER_ID_CLAIM", "user_id")]
    except (TokenError, KeyError):
        raise InvalidRefreshToken() from None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise InvalidRefreshToken()
    try:
        with transaction.atomic():
            outstanding = OutstandingToken.objects.select_for_update().get(jti=old["jti"])
            BlacklistedToken.objects.create(token=outstanding)
    except (OutstandingToken.DoesNotExist, IntegrityError):
        raise InvalidRefreshToken() from None
    return issue_tokens(user)


def logout(raw: str) -> None:
    """Blacklist a refresh token; it can no longer be refreshed."""
    try:
        token = RefreshToken(raw)  # type: ignore[arg-type]  # the stubs omit the encoded-string form
    except TokenError:
        raise InvalidRefreshToken() from None
    # A concurrent logout of the same token got there first: the outcome is the same.
    with contextlib.suppress(IntegrityError):
        token.blacklist()


def create_bot_login() -> BotLoginToken:
    """Start a bot login; the token fits Telegram's 64-character ``start`` parameter."""
    return BotLoginToken.objects.create(
        token=secrets.token_urlsafe(32),
        expires_at=timezone.now() + timedelta(seconds=settings.BOT_LOGIN_TOKEN_TTL),
    )


def confirm_bot_login(token: str, *, identity: TelegramIdentity, chat_id: int | None = None) -> User:
    """
    Attach the Telegram user who sent ``/start login_<token>`` to that login.

    Raises ``LoginTokenExpired`` past ``expires_at`` and ``LoginTokenUsed``
    when another person already confirmed it; the same person confirming
    twice is harmless. Links the chat, so the bot can reach the user.
    """
    with transaction.atomic():
        login = BotLoginToken.objects.select_for_update().filter(token=token).first()
        if login is None:
            raise NotFound("This login link is unknown.")
        if login.expires_at <= timezone.now():
            raise LoginTokenExpired()
        user = upsert_telegram_user(identity, chat_id=chat_id)
        if login.user_id is not None and login.user_id != user.pk:
            raise LoginTokenUsed()
        if login.user_id is None:
            login.user = user
            login.confirmed_at = timezone.now()
            login.save(update_fields=["user", "confirmed_at"])
    return user


def collect_bot_login(token: str) -> tuple[str, User | None]:
    """
    Return ``("pending", None)`` or, exactly once, ``("confirmed", user)``.

    The first poll after confirmation consumes the token (a conditional
    UPDATE, so two racing polls cannot both get tokens); later polls raise
    ``LoginTokenUsed``, and polls past ``expires_at`` ``LoginTokenExpired``.
    """
    login = BotLoginToken.objects.filter(token=token).first()
    if login is None:
        raise NotFound("This login link is unknown.")
    now = timezone.now()
    if login.consumed_at is not None:
        raise LoginTokenUsed()
    if login.expires_at <= now:
        raise LoginTokenExpired()
    if login.user_id is None:
        return "pending", None
    claimed = BotLoginToken.objects.filter(pk=login.pk, consumed_at__isnull=True).update(consumed_at=now)
    if not claimed:
        raise LoginTokenUsed()
    return "confirmed", login.user


def update_profile(user: User, **fields: Any) -> User:
    """
    Write the profile fields given and return the user.

    A change of the X/Twitter or LinkedIn link requests a new enrichment in
    the same transaction (``trigger=profile``, deferred to the end of any
    cooldown rather than refused); its task is queued on commit.
    """
    links_before = (user.twitter, user.linkedin)
    with transaction.atomic():
        for name, value in fields.items():
            setattr(user, name, value)
        if fields:
            user.save(update_fields=list(fields))
        if (user.twitter, user.linkedin) != links_before:
            request_enrichment(user, trigger=EnrichmentTrigger.PROFILE, defer=True)
    return user


def set_avatar(user: User, *, upload: UploadedFile) -> User:
    """
    Store ``upload`` as the user's avatar after checking its content.

    Refuses anything over 5 MB (413), anything that is not a JPEG, PNG or
    WebP by its bytes whatever its name says (415), and images with more
    than ``AVATAR_MAX_PIXELS`` pixels (413, decompression bombs). The old
    file is deleted after the new one is saved.
    """
    if upload.size is not None and upload.size > settings.AVATAR_MAX_BYTES:
        raise PayloadTooLarge("Avatars may be at most 5 MB.")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image_format = image.format
            width, height = image.size
            if image_format not in AVATAR_FORMATS:
                raise UnsupportedMediaType("Avatars must be JPEG, PNG or WebP images.")
            if width * height > AVATAR_MAX_PIXELS:
                raise PayloadTooLarge("The image has too many pixels.")
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, OSError, ValueError):
        raise UnsupportedMediaType("Avatars must be JPEG, PNG or WebP images.") from None
    upload.seek(0)
    old_name = user.avatar.name if user.avatar else ""
    user.avatar.save(f"{user.pk}-{uuid.uuid4().hex[:12]}.{AVATAR_FORMATS[image_format]}", upload, save=False)
    user.save(update_fields=["avatar"])
    if old_name:
        user.avatar.storage.delete(old_name)
    return user


def set_avatar_from_upload(user: User, *, upload_id: int) -> User:
    """
    Make the user's completed direct upload ``upload_id`` (purpose
    ``avatar``) their avatar: the object becomes the avatar file, no bytes
    are copied. The upload is used once (``UploadUsed`` 409 after; see
    ``consume_upload`` for the other refusals); the old avatar file is
    deleted after commit.
    """
    old_name = user.avatar.name if user.avatar else ""
    with transaction.atomic():
        upload = consume_upload(upload_id, owner=user, purpose=UploadPurpose.AVATAR)
        user.avatar.name = upload.key
        user.save(update_fields=["avatar"])
        if old_name:
            storage = user.avatar.storage
            transaction.on_commit(lambda: storage.delete(old_name))
    return user


# --- the bot's chat -------------------------------------------------------------------


def link_bot_chat(identity: TelegramIdentity, *, chat_id: int) -> User:
    """
    Plain ``/start`` in the bot's private chat: create or refresh the user and
    record where the bot reaches them. The person just wrote to the bot, so a
    block recorded earlier is over.
    """
    user = upsert_telegram_user(identity, chat_id=chat_id)
    clear_telegram_block(user)
    return user


def confirm_bot_login_in_chat(token: str, *, identity: TelegramIdentity, chat_id: int) -> User:
    """``/start login_<token>``: confirm the login (``confirm_bot_login``) and clear any recorded block."""
    user = confirm_bot_login(token, identity=identity, chat_id=chat_id)
    clear_telegram_block(user)
    return user


def clear_telegram_block(user: User) -> None:
    """Forget that ``user`` blocked the bot (an UPDATE of that column only)."""
    if user.telegram_blocked_at is not None:
        User.objects.filter(pk=user.pk).update(telegram_blocked_at=None)
        user.telegram_blocked_at = None


def set_telegram_notifications(telegram_id: int, *, enabled: bool) -> bool:
    """
    ``/mute`` and ``/unmute``: set ``notify_telegram`` (``/unmute`` also turns
    session reminders back on); False when no active user has this Telegram id.
    """
    fields = {"notify_telegram": enabled, **({"session_reminders": True} if enabled else {})}
    return bool(User.objects.filter(telegram_id=telegram_id, is_active=True).update(**fields))


def mute_session_reminders(telegram_id: int) -> bool:
    """The "Mute reminders" button: no more session reminders; False when no active user has this Telegram id."""
    return bool(User.objects.filter(telegram_id=telegram_id, is_active=True).update(session_reminders=False))


def mark_telegram_chat_blocked(chat_id: int) -> None:
    """Telegram answered 403 for ``chat_id``: stop sending there until the user writes to the bot again."""
    User.objects.filter(telegram_chat_id=chat_id, telegram_blocked_at__isnull=True).update(
        telegram_blocked_at=timezone.now()
    )


def unmark_telegram_chat_blocked(chat_id: int) -> None:
    """The user unblocked the bot: messages may go to ``chat_id`` again."""
    User.objects.filter(telegram_chat_id=chat_id, telegram_blocked_at__isnull=False).update(telegram_blocked_at=None)
