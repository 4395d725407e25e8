"""
Account erasure: ``erase_user`` walks ``privacy.registry`` in one
transaction, then deletes the user row; what must not happen unless that
commits (files, Redis) runs on commit.
"""

from __future__ import annotations

import structlog
from django.db import transaction
from django.db.models import Model, QuerySet
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from ibw.tasks import enqueue
from notifications.realtime import publish_to_groups, user_group
from privacy.registry import EXTRAS, HOLDINGS, Erase, Holding
from quests import leaderboard
from quests.tasks import rebuild_leaderboard_task
from users.models import User

logger = structlog.get_logger(__name__)


def _rows(holding: Holding, user: User) -> QuerySet[Model]:
    return holding.model._default_manager.filter(**{holding.field: user})


def _revoke_refresh_tokens(user: User) -> None:
    """Blacklist every refresh token of ``user`` not blacklisted yet (a refresh then answers 401)."""
    fresh = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in fresh], ignore_conflicts=True)


def _apply(holding: Holding, user: User) -> None:
    if holding.before is not None:
        holding.before(user)
    field = holding.model._meta.get_field(holding.field)
    if field.many_to_many:
        # A many-to-many to users: drop the person's through rows, keep the other side.
        through = field.remote_field.through  # type: ignore[union-attr]  # a relation field has remote_field
        column = next(f.name for f in through._meta.fields if f.related_model is User)
        through._default_manager.filter(**{column: user}).delete()
        return
    rows = _rows(holding, user)
    if holding.erase is Erase.DELETE:
        rows.delete()
        return
    if holding.erase is Erase.REVOKE:
        _revoke_refresh_tokens(user)
    rows.update(**{holding.field: None})


def erase_person_rows(user: User) -> None:
    """
    Apply every holding and extra of the registry to ``user``'s rows: after
    this, nothing but the user row itself refers to them. Call inside the
    erasure's transaction (``erase_user``).
    """
    for holding in HOLDINGS:
        _apply(holding, user)
    for extra in EXTRAS:
        extra.erase(user)


def erase_user(user: User) -> bool:
    """
    Erase ``user`` (GDPR erasure, the app stores' account deletion); return
    False when someone else's request already did (nothing happens).

    One transaction: locks the user row (concurrent erasures of the same
    person queue here, and the later finds nobody), applies the registry
    (RSVPs withdrawn and meetings cancelled through their services, whose
    notifications to the others commit with it; the ledger and reward claims
    kept without the person; everything else of theirs deleted or unlinked),
    blacklists their refresh tokens and deletes the user row, so access
    tokens answer 401 and a later Telegram login creates a new account.

    On commit: their open notification sockets are closed (4401), the avatar
    file is deleted from storage and the person is taken off every
    leaderboard in Redis (when Redis is down, a rebuild is queued; the beat's
    reconcile would also find the difference).
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().filter(pk=user.pk).first()
        if locked is None:
            return False
        user_id = locked.pk
        avatar_name = locked.avatar.name if locked.avatar else ""
        storage = locked.avatar.storage
        erase_person_rows(locked)
        User.objects.filter(pk=user_id).delete()
        # Open notification sockets close (4401) on commit; new ones are refused (no such user).
        publish_to_groups([(user_group(user_id), {})], handler="account_erased")

        def after_commit() -> None:
            if avatar_name:
                try:
                    storage.delete(avatar_name)
                except Exception as exc:  # the account is gone either way; a stray file is logged for cleanup
                    logger.warning("erased_avatar_not_deleted", user_id=user_id, name=avatar_name, error=str(exc))
            try:
                leaderboard.remove_user(user_id)
            except Exception as exc:  # Redis down: rebuild from the ledger, which no longer names them
                logger.warning("erased_user_leaderboard_removal_failed", user_id=user_id, error=str(exc))
                enqueue(rebuild_leaderboard_task)

        transaction.on_commit(after_commit)
    logger.info("account_erased", user_id=user_id)
    return True
