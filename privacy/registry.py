"""
Where personal data lives, declared model by model: the one list that
account erasure (``privacy.services.erase_user``) and the data export
(``privacy.selectors.export_user``) both walk.

Every foreign key, one-to-one or many-to-many field that points at the user
model is one ``Holding`` here, saying what erasure does to the rows that
name the person and which columns the export shows. ``uncovered()`` lists the
fields nobody declared; a test fails on any, so a new model with a user
field cannot ship without a decision. A few rows hold a person without a
foreign key (Telegram updates, by Telegram id; a pending schedule notice's
list of ids): those are ``Extra`` entries with their own erase and export.

What erasure does, per holding:

- ``DELETE``: the rows are the person's own (bookmarks, RSVPs, questions,
  notifications...): deleted. ``before`` runs a domain service first when
  deleting has consequences for others (a freed seat promotes the waitlist,
  the other side of a meeting is told).
- ``ANONYMISE``: the rows are kept without the person, because others rely
  on what they record (the points ledger: what was awarded; reward claims:
  the items left the stock).
- ``UNLINK``: the rows belong to someone else or to the conference (an
  attendance checked in *by* this staff member, an event they host, a speaker
  profile on the public agenda): kept, and the link to the person cleared.
- ``REVOKE``: refresh-token records: blacklisted, then unlinked, so every
  refresh token of the person stops working; access tokens stop with the
  user row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import models
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from bot.models import ProcessedUpdate
from broadcasts.models import Broadcast, Delivery
from chats.models import ChatLink, InviteLink, JoinRequest
from chats.services import revoke_invite_links_after_commit
from conferences.models import Attendance, Bookmark, ConferenceOrganizer, PendingSessionChange, Speaker
from connections.models import Block, Connection
from events.models import RSVP, Event, EventMessage
from events.services import cancel_rsvp
from live.models import Feedback, Poll, PollVote, Question, QuestionModeration, QuestionVote
from live.services import unvote_question
from meetings.models import OPEN_STATUSES, Meeting, MeetingSeat
from meetings.services import cancel_meeting
from notifications.models import Notification, TelegramDelivery
from quests.models import (
    Invitation,
    InviteCode,
    PointsEntry,
    QuestCompletion,
    RewardClaim,
    SprintWin,
    Submission,
)
from uploads.models import Upload
from uploads.services import delete_objects_after_commit
from users.models import BotLoginToken, EnrichmentRun, User


class Erase(enum.Enum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    UNLINK = "unlink"
    REVOKE = "revoke"


@dataclass(frozen=True)
class Holding:
    """
    ``model.field`` names the person. ``section`` is the export's key (several
    holdings may share one, e.g. both sides of a connection); ``columns`` are
    the exported values, ``a__b`` following a relation (exported as ``a_b``).
    ``before(user)`` runs inside the erasure's transaction before the rows go.
    """

    model: type[models.Model]
    field: str
    erase: Erase
    section: str
    columns: tuple[str, ...]
    before: Callable[[User], None] | None = None

    @property
    def key(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


@dataclass(frozen=True)
class Extra:
    """Personal data held without a user foreign key; ``erase(user)`` and ``export(user)`` handle it."""

    name: str
    section: str
    erase: Callable[[User], None]
    export: Callable[[User], list[dict[str, Any]]]


# --- the services erasure runs before deleting ---------------------------------------------


def _withdraw_rsvps(user: User) -> None:
    """
    Withdraw the RSVPs to events not over yet through the events service: a
    freed seat goes to the first waitlisted person, who is notified. RSVPs to
    past events are simply deleted (their counts stay as history).
    """
    for rsvp in (
        RSVP.objects.filter(user=user, event__ends_at__gt=timezone.now()).select_related("event").order_by("event_id")
    ):
        cancel_rsvp(rsvp.event, user=user)


def _withdraw_question_votes(user: User) -> None:
    """Withdraw votes through the live service, so the sessions' sockets get the lowered counts."""
    for vote in QuestionVote.objects.filter(user=user).select_related("question").order_by("pk"):
        unvote_question(vote.question, user=user)


def _cancel_meetings_as(side: str) -> Callable[[User], None]:
    def cancel(user: User) -> None:
        """Cancel upcoming open meetings through the meetings service: the other person is told (meeting_cancelled)."""
        upcoming = Meeting.objects.filter(**{side: user}, status__in=OPEN_STATUSES, starts_at__gt=timezone.now())
        for meeting_id in upcoming.order_by("pk").values_list("pk", flat=True):
            cancel_meeting(user, meeting_id=meeting_id)

    return cancel


# --- extras (no user foreign key) -----------------------------------------------------------


def _telegram_updates(user: User):
    """Handled Telegram updates the person sent (the webhook keeps them a few days for idempotency)."""
    if user.telegram_id is None:
        return ProcessedUpdate.objects.none()
    tid = user.telegram_id
    sender = (
        models.Q(payload__message__from__id=tid)
        | models.Q(payload__edited_message__from__id=tid)
        | models.Q(payload__callback_query__from__id=tid)
        | models.Q(payload__my_chat_member__from__id=tid)
        | models.Q(payload__chat_join_request__from__id=tid)
    )
    return ProcessedUpdate.objects.filter(sender)


def _erase_telegram_updates(user: User) -> None:
    # The row (its update_id) stays, so a redelivery is still recognised; what the person sent goes.
    _telegram_updates(user).filter(handled_at__isnull=False).update(payload={})


def _export_telegram_updates(user: User) -> list[dict[str, Any]]:
    return list(_telegram_updates(user).order_by("pk").values("update_id", "payload", "received_at", "handled_at"))


def _pending_notices(user: User) -> list[PendingSessionChange]:
    # A handful of rows at most (each lives one debounce window); JSON "contains" is not portable to SQLite.
    return [row for row in PendingSessionChange.objects.order_by("pk") if user.pk in row.bookmarkers]


def _erase_pending_notices(user: User) -> None:
    for row in _pending_notices(user):
        PendingSessionChange.objects.filter(pk=row.pk).update(bookmarkers=[i for i in row.bookmarkers if i != user.pk])


def _export_pending_notices(user: User) -> list[dict[str, Any]]:
    return [{"session": row.session_key, "title": row.title, "due_at": row.due_at} for row in _pending_notices(user)]


# --- the registry ----------------------------------------------------------------------------

D, A, U = Erase.DELETE, Erase.ANONYMISE, Erase.UNLINK

HOLDINGS: tuple[Holding, ...] = (
    # users
    Holding(
        EnrichmentRun, "user", D, "enrichment_runs", ("id", "trigger", "status", "error", "created_at", "finished_at")
    ),
    Holding(BotLoginToken, "user", D, "bot_logins", ("created_at", "expires_at", "confirmed_at", "consumed_at")),
    Holding(OutstandingToken, "user", Erase.REVOKE, "refresh_tokens", ("jti", "created_at", "expires_at")),
    Holding(
        LogEntry, "user", D, "admin_actions", ("action_time", "content_type__model", "object_repr", "change_message")
    ),
    # conferences
    Holding(Speaker, "user", U, "speaker_profiles", ("id", "conference__slug", "name")),
    Holding(Bookmark, "user", D, "bookmarks", ("session", "session__title", "session__conference__slug", "created_at")),
    Holding(
        Attendance,
        "user",
        D,
        "attendance",
        ("conference__slug", "status", "badge_code", "registered_at", "checked_in_at"),
    ),
    Holding(Attendance, "checked_in_by", U, "attendees_checked_in", ("id", "conference__slug", "checked_in_at")),
    Holding(ConferenceOrganizer, "user", D, "organizer_of", ("conference__slug", "added_at")),
    # events
    Holding(Event, "host", U, "events_hosted", ("id", "title", "starts_at")),
    Holding(
        RSVP,
        "user",
        D,
        "rsvps",
        ("event", "event__title", "status", "created_at", "checked_in_at"),
        before=_withdraw_rsvps,
    ),
    Holding(RSVP, "checked_in_by", U, "guests_checked_in", ("id", "event", "checked_in_at")),
    Holding(EventMessage, "sender", U, "event_messages_sent", ("event", "text", "recipients", "created_at")),
    # connections
    *(
        Holding(
            Connection,
            side,
            D,
            "connections",
            ("id", "from_user", "to_user", "status", "message", "met_in_person", "created_at", "responded_at"),
        )
        for side in ("from_user", "to_user")
    ),
    Holding(Block, "blocker", D, "blocks", ("blocked", "created_at")),
    # Who blocked the person is the blocker's secret: only that it happened, and when.
    Holding(Block, "blocked", D, "blocked_by", ("created_at",)),
    # meetings: upcoming open ones cancelled first (the other side is told), then deleted
    *(
        Holding(
            Meeting,
            side,
            D,
            "meetings",
            (
                "id",
                "conference__slug",
                "starts_at",
                "ends_at",
                "requester",
                "recipient",
                "status",
                "table__name",
                "message",
                "created_at",
                "responded_at",
            ),
            before=_cancel_meetings_as(side),
        )
        for side in ("requester", "recipient")
    ),
    Holding(Meeting, "cancelled_by", U, "meetings_cancelled", ("id",)),
    Holding(MeetingSeat, "user", D, "meeting_seats", ("meeting", "slot__starts_at")),
    # live
    Holding(
        Question,
        "author",
        D,
        "questions",
        ("id", "session", "session__title", "text", "is_anonymous", "status", "is_pinned", "created_at"),
    ),
    Holding(Question, "moderated_by", U, "questions_moderated", ("id", "status", "moderated_at")),
    Holding(QuestionVote, "user", D, "question_votes", ("question", "created_at"), before=_withdraw_question_votes),
    Holding(QuestionModeration, "by", U, "moderation_actions", ("question", "action", "at")),
    Holding(Poll, "created_by", U, "polls_created", ("id", "question", "created_at")),
    Holding(Poll, "closed_by", U, "polls_closed", ("id", "closed_at")),
    Holding(PollVote, "user", D, "poll_votes", ("poll", "poll__question", "option__text", "voted_at")),
    Holding(
        Feedback, "user", D, "feedback", ("session", "session__title", "rating", "comment", "created_at", "updated_at")
    ),
    # quests
    Holding(
        Submission,
        "user",
        D,
        "submissions",
        (
            "id",
            "task__quest",
            "task",
            "task__title",
            "status",
            "proof_url",
            "text",
            "reason",
            "points_awarded",
            "created_at",
            "reviewed_at",
        ),
    ),
    Holding(Submission, "reviewer", U, "submissions_reviewed", ("id", "status", "reviewed_at")),
    Holding(QuestCompletion, "user", D, "quest_completions", ("quest", "quest__title", "completed_at")),
    Holding(
        PointsEntry, "user", A, "points", ("points", "reason", "source", "quest", "conference__slug", "created_at")
    ),
    Holding(InviteCode, "user", D, "invite_code", ("code", "created_at")),
    Holding(Invitation, "inviter", D, "invitations_sent", ("invitee", "created_at")),
    Holding(Invitation, "invitee", D, "invited_by", ("inviter", "created_at")),
    Holding(
        RewardClaim, "user", A, "reward_claims", ("reward", "reward__title", "code", "created_at", "handed_out_at")
    ),
    Holding(RewardClaim, "handed_out_by", U, "rewards_handed_out", ("id", "handed_out_at")),
    Holding(SprintWin, "user", D, "sprint_wins", ("conference__slug", "day", "rank", "points", "created_at")),
    # notifications and broadcasts
    Holding(Notification, "user", D, "notifications", ("id", "kind", "title", "body", "data", "created_at", "read_at")),
    Holding(TelegramDelivery, "user", D, "telegram_messages", ("notification", "channel", "state", "sent_at")),
    Holding(Broadcast, "created_by", U, "broadcasts_created", ("id", "title", "created_at")),
    Holding(
        Delivery, "user", D, "broadcast_deliveries", ("broadcast", "broadcast__title", "channel", "state", "sent_at")
    ),
    # Telegram chats: a chat the person linked stays (it is the conference's); their invite
    # links are revoked at Telegram after commit; their join requests go
    Holding(ChatLink, "linked_by", U, "chats_linked", ("id", "chat_id", "title", "purpose", "created_at")),
    Holding(
        InviteLink,
        "user",
        D,
        "chat_invite_links",
        ("chat", "chat__title", "invite_link", "created_at", "revoked_at"),
        before=revoke_invite_links_after_commit,
    ),
    Holding(
        JoinRequest, "user", D, "chat_join_requests", ("chat", "chat__title", "requested_at", "decision", "sent_at")
    ),
    # direct uploads: the rows go with the person, their objects after commit
    Holding(
        Upload,
        "owner",
        D,
        "uploads",
        ("id", "purpose", "content_type", "size", "status", "created_at", "used_at"),
        before=delete_objects_after_commit,
    ),
)

EXTRAS: tuple[Extra, ...] = (
    Extra("bot.ProcessedUpdate.payload", "telegram_updates", _erase_telegram_updates, _export_telegram_updates),
    Extra(
        "conferences.PendingSessionChange.bookmarkers",
        "pending_schedule_notices",
        _erase_pending_notices,
        _export_pending_notices,
    ),
)


def user_fields(candidates: Iterable[type[models.Model]] | None = None) -> list[str]:
    """
    Every ``<app>.<Model>.<field>`` among ``candidates`` (default: every
    installed model) that is a foreign key, one-to-one or many-to-many to the
    user model, declared on that model (not reverse accessors).
    """
    user_label = settings.AUTH_USER_MODEL.lower()
    found = []
    for model in apps.get_models() if candidates is None else candidates:
        for field in model._meta.get_fields():
            if field.auto_created or not field.is_relation:
                continue
            # By label: a model of another app registry (tests) has the target unresolved, as a string.
            target = field.related_model
            label = target.lower() if isinstance(target, str) else target._meta.label_lower
            if label == user_label:
                found.append(f"{model._meta.label}.{field.name}")
    return found


def uncovered(
    holdings: Iterable[Holding] = HOLDINGS, candidates: Iterable[type[models.Model]] | None = None
) -> list[str]:
    """
    The user fields that erasure or export does not cover, each with what is
    missing (``"quests.Foo.user: erasure, export"``); empty when all are.
    """
    holdings = list(holdings)
    erased = {h.key for h in holdings if isinstance(h.erase, Erase)}
    exported = {h.key for h in holdings if h.section and h.columns}
    missing = []
    for key in user_fields(candidates):
        gaps = [name for name, covered in (("erasure", erased), ("export", exported)) if key not in covered]
        if gaps:
            missing.append(f"{key}: {', '.join(gaps)}")
    return missing
