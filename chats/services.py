"""
Telegram chats of conferences and side events.

* Linking (``link_chat``) asks Telegram first (``getChat``, ``getChatMember``
  of the bot) and stores nothing unless the chat is a group or channel where
  the bot is an administrator with the rights the purpose needs. The unique
  ``chat_id`` keeps a chat with one conference or event, also when two
  organizers race.
* Invite links (``ensure_invite_link``): one per person and chat, made with
  ``creates_join_request`` and reused. The row is inserted empty, then
  filled under its row lock, so racing requests ask Telegram once.
  ``unlink_chat`` marks the link inactive first (no new invite links), then
  revokes every link under its row lock and deletes the chat link.
* Join requests (``record_join_request``): the database decides. The
  decision row's unique key is Telegram's request (chat, person, time), so
  a redelivered update or two workers make one decision; the one Telegram
  call (approve or decline) is claimed with a conditional UPDATE
  (``pending`` → ``sending``), taken under the global rate limit, and
  recorded ``sent`` after. A decision found ``sending`` after a crash is
  made again: Telegram refuses a second decision of one request, so a retry
  can never let anyone in twice or against the decision.
* Posts (``create_posts``, ``send_posts``): one row per message and
  announcements chat, sent with the states of ``notifications.delivery``
  (at most once when a worker dies mid-request).
* ``bot_membership_changed``: the bot removed or demoted makes the link
  ``inactive`` once and tells the organizers (``chat_unlinked``).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from chats import selectors, tasks
from chats.errors import BotNotAdmin, ChatLinkedElsewhere, ChatNotUsable, NotRegistered
from chats.models import ChatLink, ChatPost, ChatPurpose, ChatStatus, InviteLink, JoinDecision, JoinRequest
from conferences.models import Conference
from events.models import Event, RSVPStatus
from ibw.errors import ServiceUnavailable
from ibw.tasks import enqueue
from integrations import ratelimit, telegram
from integrations.telegram_sender import TelegramSender
from notifications.models import DeliveryState, NotificationKind
from notifications.services import notify
from users.models import User
from users.selectors import active_user_by_telegram_id

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
INVITE_NAME_MAX = 32
# A decision or post not picked up after this long lost its task (broker down): the sweep queues it.
PICKUP_GRACE_SECONDS = 30
POST_CLAIM_BATCH = 5
DECISION_CLAIM_BATCH = 5
# While tasks drain decisions they keep these keys alive; while every slot is taken, new decisions
# queue no task of their own. Two lanes keep the rate limiter busy when one worker process is
# descheduled, and leave the other critical-queue processes free to record decisions.
DECISION_LANE_KEY = "chats:decision_lane"
DECISION_LANES = 2
DECISION_LANE_TTL = 15
RIGHT_NAMES = {
    "administrator": "be an administrator",
    "can_invite_users": "invite users (can_invite_users)",
    "can_post_messages": "post messages (can_post_messages)",
}


def _telegram_down(exc: telegram.TelegramError) -> ServiceUnavailable:
    logger.warning("telegram_unavailable_for_chats", error=str(exc))
    return ServiceUnavailable("Telegram could not be reached; try again shortly.")


# --- linking ---------------------------------------------------------------------------------


def _owner_filter(owner: Conference | Event) -> Q:
    return Q(conference=owner) if isinstance(owner, Conference) else Q(event=owner)


def link_chat(owner: Conference | Event, *, chat_id: int, purpose: str, by: User | None) -> tuple[ChatLink, bool]:
    """
    Link Telegram chat ``chat_id`` to ``owner`` for ``purpose`` after
    checking with Telegram; return the link and whether it is new. Linking
    it again (the bot re-added, another purpose) updates and reactivates it.

    Raises ``ChatLinkedElsewhere`` (409) when another conference or event
    holds the chat, ``ChatNotUsable`` (400) for an unknown or private chat,
    ``BotNotAdmin`` (409) naming the missing rights; nothing is stored then.
    The unique ``chat_id`` settles two owners racing for one chat.
    """
    existing = ChatLink.objects.filter(chat_id=chat_id).first()
    if existing is not None and not ChatLink.objects.filter(_owner_filter(owner), pk=existing.pk).exists():
        raise ChatLinkedElsewhere()
    if chat_id >= 0:
        raise ChatNotUsable(
            "This id is not a group or channel (a person's private chat, or no chat): their ids are negative.",
            details={"chat_id": ["A group or channel id is negative."]},
        )
    try:
        chat, rights = telegram.inspect_chat(chat_id)
    except telegram.TelegramBadRequest as exc:
        raise ChatNotUsable(
            "Telegram does not know this chat, or the bot is not in it.", details={"chat_id": [str(exc)]}
        ) from exc
    except telegram.TelegramForbidden as exc:
        raise ChatNotUsable(
            "The bot is not a member of this chat: add it as an administrator first.", details={"chat_id": [str(exc)]}
        ) from exc
    except telegram.TelegramError as exc:
        raise _telegram_down(exc) from exc
    if rights is None or chat.type == "private":
        raise ChatNotUsable(
            "This is a private chat with a person: link a group or channel.",
            details={"chat_id": ["A private chat cannot be linked."]},
        )
    missing = rights.missing(post=purpose == ChatPurpose.ANNOUNCEMENTS)
    if missing:
        words = " and ".join(RIGHT_NAMES[m] for m in missing)
        raise BotNotAdmin(f"The bot must {words} in this chat.", details={"missing": missing})
    fields = {"title": chat.title[:255], "type": chat.type, "purpose": purpose, "status": ChatStatus.ACTIVE}
    try:
        with transaction.atomic():
            if existing is not None:
                ChatLink.objects.filter(pk=existing.pk).update(**fields, updated_at=timezone.now())
                existing.refresh_from_db()
                return existing, False
            owner_field = {"conference": owner} if isinstance(owner, Conference) else {"event": owner}
            link = ChatLink.objects.create(chat_id=chat_id, linked_by=by, **owner_field, **fields)
    except IntegrityError as exc:
        raise ChatLinkedElsewhere() from exc
    logger.info("chat_linked", chat_id=chat_id, link=link.pk, purpose=purpose)
    return link, True


def unlink_chat(link: ChatLink) -> None:
    """
    Remove ``link``: first mark it inactive (no invite link is issued from
    then on), then revoke each invite link given out (``revokeChatInviteLink``)
    under its row lock, so a link being made at that moment is revoked too,
    then delete it. Telegram down midway: ``ServiceUnavailable``, and a
    retry revokes the rest.
    """
    ChatLink.objects.filter(pk=link.pk).update(status=ChatStatus.INACTIVE, updated_at=timezone.now())
    failure: telegram.TelegramError | None = None
    with transaction.atomic():
        rows = list(
            InviteLink.objects.select_for_update()
            .filter(chat=link, revoked_at__isnull=True)
            .exclude(invite_link="")
            .order_by("pk")
        )
        done: list[str] = []
        try:
            if rows:
                telegram.revoke_invite_links(link.chat_id, [r.invite_link for r in rows], revoked=done.append)
        except telegram.TelegramError as exc:
            failure = exc
        # Kept even when the rest failed: a retry starts after what was revoked.
        InviteLink.objects.filter(chat=link, invite_link__in=done).update(revoked_at=timezone.now())
        if failure is None:
            ChatLink.objects.filter(pk=link.pk).delete()
    if failure is not None:
        raise _telegram_down(failure) from failure
    logger.info("chat_unlinked", chat_id=link.chat_id, link=link.pk, revoked=len(rows))


def revoke_invite_links_after_commit(user: User) -> None:
    """
    Account erasure: once the transaction commits, revoke at Telegram the
    personal invite links made for ``user`` (their rows go with the person),
    from a task, so the erasing request does not wait on Telegram.
    """
    links = [
        (chat_id, link)
        for chat_id, link in InviteLink.objects.filter(user=user, revoked_at__isnull=True)
        .exclude(invite_link="")
        .values_list("chat__chat_id", "invite_link")
    ]
    if links:
        transaction.on_commit(lambda: enqueue(tasks.revoke_invite_links_task, links=links))


def revoke_invite_links(links: list[tuple[int, str]]) -> None:
    """
    Revoke each ``(chat_id, invite link)``; a link Telegram no longer knows
    counts as revoked. Telegram unreachable: logged and left, since a link
    only asks to join, and the request of someone not registered is declined.
    """
    by_chat: dict[int, list[str]] = {}
    for chat_id, link in links:
        by_chat.setdefault(int(chat_id), []).append(link)
    for chat_id, chat_links in by_chat.items():
        try:
            telegram.revoke_invite_links(chat_id, chat_links, revoked=lambda _link: None)
        except Exception as exc:  # noqa: BLE001 (telegram's errors, or Telegram not configured)
            logger.warning("erased_invite_links_not_revoked", chat_id=chat_id, links=len(chat_links), error=str(exc))


# --- who sees what ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VisibleChat:
    link: ChatLink
    invite_link: str | None


def visible_chats(owner: Conference | Event, *, user: User | None, manages: bool) -> list[VisibleChat]:
    """
    The chats of ``owner`` as ``user`` sees them: people registered for the
    conference (or ``going`` to the event) with their own invite link to
    each active chat (made on first sight, then reused); waitlisted guests,
    co-organizers, hosts and admins (``manages``) without one; anyone else
    ``NotRegistered``.
    """
    if isinstance(owner, Conference):
        member = selectors.is_registered(user, owner)
        allowed = member or manages
    else:
        status = selectors.rsvp_status(user, owner)
        member = status == RSVPStatus.GOING
        allowed = member or status == RSVPStatus.WAITLISTED or manages
    if not allowed:
        raise NotRegistered(
            "Register for this conference to see its chats."
            if isinstance(owner, Conference)
            else "RSVP to this event to see its chats."
        )
    links = list(selectors.chats_of(owner))
    if not member or user is None:
        return [VisibleChat(link, None) for link in links]
    have = selectors.invite_links_of(user, [link.pk for link in links if link.is_active])
    result = []
    for link in links:
        invite = have.get(link.pk)
        if invite is None and link.is_active:
            invite = ensure_invite_link(link, user)
        result.append(VisibleChat(link, invite if link.is_active else None))
    return result


def ensure_invite_link(link: ChatLink, user: User) -> str | None:
    """
    ``user``'s invite link to ``link`` (``creates_join_request``, named after
    their display name cut to 32 characters), made once: the empty row is
    inserted (ON CONFLICT DO NOTHING), then locked, and only the holder that
    finds it empty asks Telegram. ``None`` when the chat is no longer active.
    """
    InviteLink.objects.bulk_create([InviteLink(chat=link, user=user)], ignore_conflicts=True)
    with transaction.atomic():
        row = InviteLink.objects.select_for_update().get(chat=link, user=user)
        if row.invite_link and row.revoked_at is None:
            return row.invite_link
        # Read after the row lock: an unlink that began before sees this row and waits for it.
        if not ChatLink.objects.filter(pk=link.pk, status=ChatStatus.ACTIVE).exists():
            return None
        try:
            row.invite_link = telegram.create_invite_link(link.chat_id, name=user.get_display_name()[:INVITE_NAME_MAX])
        except telegram.TelegramError as exc:
            raise _telegram_down(exc) from exc
        row.revoked_at = None
        row.save(update_fields=["invite_link", "revoked_at"])
    return row.invite_link


# --- join requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDecision:
    request: JoinRequest
    link: ChatLink
    user: User | None


def record_join_request(payload: dict[str, Any]) -> NewDecision | None:
    """
    Decide a ``chat_join_request`` once and queue its Telegram call; return
    the decision when this call made it, ``None`` when the chat is not an
    active link (left undecided) or the request was decided before
    (redelivery, another worker): the insert that wins the unique key is
    the decision.
    """
    chat, sender = payload.get("chat") or {}, payload.get("from") or {}
    chat_id, telegram_id, date = chat.get("id"), sender.get("id"), payload.get("date")
    if not (_is_int(chat_id) and _is_int(telegram_id) and _is_int(date)):
        return None
    assert isinstance(chat_id, int) and isinstance(telegram_id, int) and isinstance(date, int)
    link = (
        ChatLink.objects.filter(chat_id=chat_id, status=ChatStatus.ACTIVE).select_related("conference", "event").first()
    )
    if link is None:
        logger.info("join_request_for_unlinked_chat", chat_id=chat_id)
        return None
    user = active_user_by_telegram_id(telegram_id)
    decision = JoinDecision.APPROVE if selectors.may_join(link, user) else JoinDecision.DECLINE
    requested_at = datetime.fromtimestamp(date, tz=UTC)
    try:
        with transaction.atomic():
            request = JoinRequest.objects.create(
                chat=link, telegram_user_id=telegram_id, requested_at=requested_at, user=user, decision=decision
            )
            transaction.on_commit(lambda: _wake_decision_lane(request.pk))
    except IntegrityError:
        logger.info("join_request_already_decided", chat_id=chat_id, telegram_id=telegram_id)
        return None
    logger.info("join_request_decided", chat_id=chat_id, telegram_id=telegram_id, decision=decision)
    return NewDecision(request, link, user)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decline_message(decided: NewDecision) -> str:
    """What the bot tells a declined person: why, and how to get in (HTML)."""
    link = decided.link
    title = html.escape(link.title or "the chat")
    if link.conference is not None:
        name = html.escape(link.conference.name)
        return (
            f"Your request to join <b>{title}</b> was declined: it is for people registered for <b>{name}</b>.\n\n"
            f"Register for {name} in the IBW app, then tap the chat's invite link in the app and ask to join again."
        )
    event = link.event
    name = html.escape(event.title if event is not None else "the event")
    if decided.user is not None and event is not None and selectors.rsvp_status(decided.user, event) == "waitlisted":
        return (
            f"Your request to join <b>{title}</b> was declined: you are on the waitlist of <b>{name}</b>. "
            "Once you have a seat, ask to join again with your invite link in the app."
        )
    return (
        f"Your request to join <b>{title}</b> was declined: it is for people going to <b>{name}</b>.\n\n"
        f"RSVP to {name} in the IBW app, then ask to join again with your invite link there."
    )


def _wake_decision_lane(request_id: int) -> None:
    """
    After the decision commits: queue the decision task, unless a lane is
    draining decisions right now (its heartbeat in Redis); that lane takes
    this one too. A lane checks once more after dropping its heartbeat, so
    a decision committed just as it stops is not left behind (and the sweep
    queues anything older than ``PICKUP_GRACE_SECONDS``).
    """
    try:
        if _lanes_busy():
            return
    except Exception as exc:  # Redis down: queue the task, a spare lane is harmless
        logger.warning("decision_lane_check_failed", error=str(exc))
    enqueue(tasks.send_join_decisions_task, request_ids=[request_id])


def _lane(action: str, slot: int | None = None) -> int | None:
    """
    The draining lanes' keys in Redis (``DECISION_LANES`` slots): ``take``
    a free slot (SET NX; returns it, or ``None`` when all are taken),
    ``beat`` (refresh ``slot``) or ``drop`` it.
    """
    try:
        if action == "take":
            for free in range(DECISION_LANES):
                if cache.add(f"{DECISION_LANE_KEY}:{free}", 1, timeout=DECISION_LANE_TTL):
                    return free
            return None
        if slot is not None and action == "beat":
            cache.set(f"{DECISION_LANE_KEY}:{slot}", 1, timeout=DECISION_LANE_TTL)
        elif slot is not None:
            cache.delete(f"{DECISION_LANE_KEY}:{slot}")
    except Exception as exc:  # Redis down: act as a lane; a spare one is harmless
        logger.warning("decision_lane_key_failed", action=action, error=str(exc))
        return 0
    return slot


def _lanes_busy() -> bool:
    return all(cache.get(f"{DECISION_LANE_KEY}:{slot}") for slot in range(DECISION_LANES))


def send_join_decisions(request_ids: list[int], *, budget_seconds: float = 10.0) -> float:
    """
    Carry out the pending decisions among ``request_ids`` (approve or
    decline), one rate-limiter token per call; then, if no other task is
    the decision lane (a Redis key), become it and drain the other pending
    decisions for up to ``budget_seconds`` on the same connection pool (a
    keynote's worth of requests costs one session, not one per person, and
    only one worker process waits on the limiter for them). Return 0 when
    done, else the seconds after which to run again (a 429 pause, a
    transient failure, or a small delay when the budget ran out). Each call
    is claimed first (``pending`` → ``sending``, skip locked), so of two
    workers only one calls Telegram.
    """
    deadline = time.monotonic() + budget_seconds
    retry_in = 0.0
    lane: int | None = None
    with TelegramSender() as sender:
        while True:
            claimed = _claim_decisions(request_ids)
            if not claimed:
                if lane is None:
                    lane = _lane("take")
                    if lane is None:
                        return retry_in  # the lanes drain the rest
                elif time.monotonic() >= deadline:
                    _lane("drop", lane)  # the next run (queued by the task) takes a slot again
                    return max(retry_in, 0.01)
                _lane("beat", lane)
                claimed = _claim_decisions(None)
            if not claimed:
                _lane("drop", lane)
                # Once more without the key: a decision committed meanwhile saw it and queued no task.
                claimed = _claim_decisions(None)
                if not claimed:
                    return retry_in
                lane = _lane("take")
            for index, request in enumerate(claimed):
                wait = ratelimit.acquire(max_wait=5.0)
                if wait:
                    _unclaim([r.pk for r in claimed[index:]])
                    retry_in = wait
                    break
                retry_in = max(retry_in, _carry_out(sender, request))
            if retry_in:
                _lane("drop", lane)
                return retry_in


def _claim_decisions(request_ids: list[int] | None) -> list[JoinRequest]:
    """Mark up to ``DECISION_CLAIM_BATCH`` pending decisions (of ``request_ids``, or any) ``sending``; return them."""
    rows = JoinRequest.objects.filter(state=DeliveryState.PENDING)
    if request_ids is not None:
        rows = rows.filter(pk__in=request_ids)
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            rows.select_for_update(skip_locked=True, of=("self",))
            .select_related("chat")
            .order_by("pk")[:DECISION_CLAIM_BATCH]
        )
        if claimed:
            JoinRequest.objects.filter(pk__in=[r.pk for r in claimed]).update(
                state=DeliveryState.SENDING, sending_at=now, attempts=F("attempts") + 1
            )
    for request in claimed:
        request.attempts += 1
    return claimed


def _unclaim(ids: list[int]) -> None:
    """Hand back claimed decisions whose call was not started (a long 429 pause)."""
    JoinRequest.objects.filter(pk__in=ids, state=DeliveryState.SENDING).update(
        state=DeliveryState.PENDING, attempts=F("attempts") - 1
    )


def _carry_out(sender: TelegramSender, request: JoinRequest) -> float:
    """Make the claimed decision's one Telegram call and record how it went; return a retry delay or 0."""
    rows = JoinRequest.objects.filter(pk=request.pk, state=DeliveryState.SENDING)
    method = "approveChatJoinRequest" if request.decision == JoinDecision.APPROVE else "declineChatJoinRequest"
    [error] = sender.call_many([(method, {"chat_id": request.chat.chat_id, "user_id": request.telegram_user_id})])
    if error is None:
        rows.update(state=DeliveryState.SENT, sent_at=timezone.now(), error="")
        return 0.0
    if isinstance(error, telegram.TelegramRetryAfter):
        rows.update(state=DeliveryState.PENDING, attempts=F("attempts") - 1, error=str(error)[:500])
        return error.retry_after
    if isinstance(error, telegram.TelegramUnavailable) and request.attempts < MAX_ATTEMPTS:
        rows.update(state=DeliveryState.PENDING, error=str(error)[:500])
        return float(min(60, 2**request.attempts))
    # 400 (the request expired or was decided by a person), 403 (the bot lost the chat), or out of attempts.
    rows.update(state=DeliveryState.FAILED, error=str(error)[:500])
    logger.warning("join_decision_failed", request=request.pk, error=str(error))
    return 0.0


# --- the bot in linked chats -----------------------------------------------------------------


def bot_membership_changed(change: dict[str, Any]) -> ChatLink | None:
    """
    A ``my_chat_member`` update for a group or channel: when the bot was
    removed or lost a right the link's purpose needs, mark the link
    ``inactive`` (once: a conditional UPDATE) and tell the co-organizers (or
    the event's host) and every ``is_staff`` user (``chat_unlinked``, in the
    same transaction). Return the link when this call deactivated it.
    """
    chat, member = change.get("chat") or {}, change.get("new_chat_member")
    if not isinstance(chat.get("id"), int) or not isinstance(member, dict):
        return None
    link = ChatLink.objects.filter(chat_id=chat["id"]).select_related("conference", "event__host").first()
    if link is None:
        return None
    rights = telegram.BotRights.from_member(member)
    missing = rights.missing(post=link.purpose == ChatPurpose.ANNOUNCEMENTS)
    if not missing:
        return None
    with transaction.atomic():
        if not ChatLink.objects.filter(pk=link.pk, status=ChatStatus.ACTIVE).update(
            status=ChatStatus.INACTIVE, updated_at=timezone.now()
        ):
            return None
        link.status = ChatStatus.INACTIVE
        title = link.title or str(link.chat_id)
        owner = link.conference.name if link.conference is not None else (link.event.title if link.event else "")
        reason = "was removed from" if rights.status in ("left", "kicked") else "lost rights it needs in"
        data: dict[str, Any] = {"chat": link.pk}
        if link.conference is not None:
            data["conference"] = link.conference.slug
        else:
            data["event"] = link.event_id
        notify(
            selectors.organizers_to_tell(link),
            kind=NotificationKind.CHAT_UNLINKED,
            title=f"Telegram chat unlinked: {title}",
            body=(
                f"The bot {reason} {title} ({owner}); missing: {', '.join(missing)}. "
                "Nobody is let in through IBW until you make the bot an administrator again and link the chat again."
            ),
            data=data,
        )
    logger.info("chat_link_deactivated", chat_id=link.chat_id, link=link.pk, missing=missing)
    return link


# --- posts into announcements chats ----------------------------------------------------------


def create_posts(conference_id: int, *, source: str, title: str, body: str) -> int:
    """
    One pending post of ``title``/``body`` per active announcements chat of
    the conference, keyed by ``source`` (ON CONFLICT DO NOTHING: a second
    call adds nothing); return how many posts ``source`` has.
    """
    ChatPost.objects.bulk_create(
        [
            ChatPost(chat=link, source=source, title=title[:200], body=body)
            for link in selectors.announcement_chats(conference_id)
        ],
        ignore_conflicts=True,
    )
    return ChatPost.objects.filter(source=source).count()


def post_counts(source: str) -> dict[str, int]:
    """``{state: n}`` of the posts of ``source``."""
    return dict(ChatPost.objects.filter(source=source).values_list("state").annotate(n=Count("id")))


def cancel_posts(source: str) -> int:
    return ChatPost.objects.filter(source=source, state=DeliveryState.PENDING).update(state=DeliveryState.CANCELLED)


@dataclass
class PostResult:
    sent: int = 0
    failed: int = 0
    drained: bool = False
    paused_for: float = 0.0


def _claim_posts(source: str | None) -> list[ChatPost]:
    now = timezone.now()
    lease = timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    due = (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )
    rows = ChatPost.objects.filter(due, state=DeliveryState.PENDING)
    if source is not None:
        rows = rows.filter(source=source)
    with transaction.atomic():
        claimed = list(rows.select_for_update(skip_locked=True, of=("self",)).select_related("chat")[:POST_CLAIM_BATCH])
        if claimed:
            ChatPost.objects.filter(pk__in=[p.pk for p in claimed]).update(claimed_until=now + lease)
    return claimed


def send_posts(source: str | None = None, *, budget_seconds: float = 10.0, background: bool = True) -> PostResult:
    """
    Send the due posts (of ``source``, or all) under the global rate limit
    for at most ``budget_seconds``: each is marked ``sending`` just before
    its request and ``sent`` just after (a 429 pauses every worker and puts
    the post back; 5xx retries with backoff; 400/403 fail it). Broadcast
    posts are ``background`` takes that give way to single-person sends.
    """
    result = PostResult()
    deadline = time.monotonic() + budget_seconds
    with TelegramSender() as sender:
        while time.monotonic() < deadline:
            claimed = _claim_posts(source)
            if not claimed:
                result.drained = True
                break
            for index, post in enumerate(claimed):
                granted, wait = ratelimit.acquire_many(1, max_wait=5.0, background=background)
                if not granted:
                    ChatPost.objects.filter(pk__in=[p.pk for p in claimed[index:]]).update(claimed_until=None)
                    result.paused_for = wait
                    return result
                rows = ChatPost.objects.filter(pk=post.pk, state=DeliveryState.PENDING)
                if not rows.update(state=DeliveryState.SENDING, sending_at=timezone.now(), attempts=F("attempts") + 1):
                    continue  # cancelled meanwhile
                _send_post(sender, post)
                if post.state == DeliveryState.SENT:
                    result.sent += 1
                elif post.state == DeliveryState.FAILED:
                    result.failed += 1
    return result


def _send_post(sender: TelegramSender, post: ChatPost) -> None:
    rows = ChatPost.objects.filter(pk=post.pk, state=DeliveryState.SENDING)
    try:
        sender.send_titled(post.chat.chat_id, title=post.title, body=post.body)
    except telegram.TelegramRetryAfter as exc:
        post.state = DeliveryState.PENDING
        rows.update(state=post.state, attempts=F("attempts") - 1, claimed_until=None, error=str(exc)[:500])
    except (telegram.TelegramUnavailable, OSError) as exc:
        attempts = post.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            post.state = DeliveryState.FAILED
            rows.update(state=post.state, error=f"Gave up after {attempts} attempts: {exc}"[:500])
        else:
            post.state = DeliveryState.PENDING
            retry_at = timezone.now() + timedelta(seconds=min(300, 2**attempts))
            rows.update(state=post.state, next_attempt_at=retry_at, claimed_until=None, error=str(exc)[:500])
    except telegram.TelegramError as exc:
        post.state = DeliveryState.FAILED
        rows.update(state=post.state, error=str(exc)[:500])
    else:
        post.state = DeliveryState.SENT
        rows.update(state=post.state, sent_at=timezone.now(), error="")


def post_schedule_change(conference_id: int, *, source: str, title: str, body: str) -> PostResult:
    """Post a schedule change's net change into the conference's announcements chats, once per ``source``."""
    if not create_posts(conference_id, source=source, title=title, body=body):
        return PostResult(drained=True)
    return send_posts(source, background=False)


# --- the sweep -------------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """
    The beat job: a decision left ``sending`` past the lease (a worker died
    mid-call) goes back to ``pending`` (a second decision of one request is
    refused by Telegram, so redoing it admits nobody twice); a post left
    ``sending`` is reported failed, outcome unknown (never sent twice);
    decisions and posts whose task was lost are queued again.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.BROADCAST_SENDING_LEASE_SECONDS)
    stale = JoinRequest.objects.filter(state=DeliveryState.SENDING, sending_at__lt=cutoff)
    redo_ids = list(stale.values_list("pk", flat=True)[:1000])
    redo = JoinRequest.objects.filter(pk__in=redo_ids, state=DeliveryState.SENDING).update(state=DeliveryState.PENDING)
    unknown = ChatPost.objects.filter(state=DeliveryState.SENDING, sending_at__lt=cutoff).update(
        state=DeliveryState.FAILED,
        error="outcome unknown: the worker stopped during the Telegram request; not resent to avoid a duplicate",
    )
    grace = now - timedelta(seconds=PICKUP_GRACE_SECONDS)
    waiting = list(
        JoinRequest.objects.filter(Q(created_at__lt=grace) | Q(pk__in=redo_ids), state=DeliveryState.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    if waiting:
        enqueue(tasks.send_join_decisions_task, request_ids=waiting)
    posts = ChatPost.objects.filter(state=DeliveryState.PENDING, created_at__lt=grace).exists()
    if posts:
        enqueue(tasks.send_posts_task)
    return {"decisions_redone": redo, "posts_unknown": unknown, "decisions_queued": len(waiting), "posts": int(posts)}
