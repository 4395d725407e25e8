"""
Retention sweeps of the users app, run by beat on the ``low`` queue: rows
that decide nothing any more are deleted. Each is idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users.models import BotLoginToken


def purge_expired_login_tokens() -> int:
    """
    Delete bot-login tokens expired more than ``BOT_LOGIN_TOKEN_RETENTION_HOURS``
    ago (kept that long so a late poll still gets ``LOGIN_TOKEN_EXPIRED``
    rather than 404); return how many. Idempotent.
    """
    cutoff = timezone.now() - timedelta(hours=settings.BOT_LOGIN_TOKEN_RETENTION_HOURS)
    deleted, _ = BotLoginToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def purge_expired_jwt() -> int:
    """
    Delete the outstanding refresh-token rows (and their blacklist rows,
    by cascade) expired more than ``JWT_EXPIRED_RETENTION_HOURS`` ago: an
    expired token is refused by its signature's ``exp`` alone, so its row
    decides nothing any more. Return the outstanding rows deleted. Idempotent.
    """
    cutoff = timezone.now() - timedelta(hours=settings.JWT_EXPIRED_RETENTION_HOURS)
    expired = OutstandingToken.objects.filter(expires_at__lt=cutoff)
    BlacklistedToken.objects.filter(token__in=expired).delete()
    deleted, _ = expired.delete()
    return deleted
