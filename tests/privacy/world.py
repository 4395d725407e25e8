"""A person with data in every app (each registry entry has rows), and the people around them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from bot.models import ProcessedUpdate
from broadcasts.models import Broadcast, Delivery
from chats.models import ChatLink, InviteLink, JoinRequest
from conferences.models import ConferenceOrganizer, PendingSessionChange
from conferences.services import bookmark_session, check_in_attendee, register_attendee
from connections.services import block_user, request_connection
from events.services import check_in_guest, message_guests, rsvp_event
from integrations.storage import staging_name
from live.models import Feedback, Poll, PollOption, PollVote
from live.services import ask_question, moderate_question, vote_question
from meetings.services import accept_meeting, cancel_meeting, create_meeting_window, request_meeting
from notifications.models import Notification, TelegramDelivery
from quests.models import Reward, RewardClaim, SprintWin, Submission, Task
from quests.services import accept_invite, award_points, claim_reward, invite_code_for, submit_task
from tests.factories import ConferenceFactory, EventFactory, SessionFactory, SpeakerFactory, UserFactory
from tests.quests.conftest import SECRET_CODE, make_quest
from uploads.services import create_upload
from users.models import BotLoginToken, EnrichmentRun, User
from users.services import issue_tokens, set_avatar


def png_upload() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return SimpleUploadedFile("me.png", buffer.getvalue(), content_type="image/png")


@dataclass
class World:
    person: User
    other: User
    waiting: User
    tokens: dict[str, str]
    other_tokens: dict[str, str]
    conference: object
    full_event: object
    meeting: object
    avatar_name: str
    upload_name: str


def build_world() -> World:
    """
    ``person`` has rows in every registry entry; ``other`` meets, connects and
    RSVPs with them; ``waiting`` is waitlisted for the full event ``person``
    holds a seat at. Run inside ``django_capture_on_commit_callbacks(execute=True)``.
    """
    now = timezone.now()
    person = UserFactory(display_name="Erin Erased", company="Gone Inc")
    other, waiting, third, fourth = UserFactory(display_name="Olga Other"), UserFactory(), UserFactory(), UserFactory()
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference, starts_at=now - timedelta(minutes=10))
    # users
    set_avatar(person, upload=png_upload())
    EnrichmentRun.objects.create(user=person, trigger="request")
    BotLoginToken.objects.create(token="erase-me-token", expires_at=now + timedelta(minutes=5), user=person)
    tokens, other_tokens = issue_tokens(person), issue_tokens(other)
    LogEntry.objects.create(
        user=person,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(other.pk),
        object_repr="Olga",
        action_flag=ADDITION,
    )
    # conferences
    SpeakerFactory(conference=conference, user=person)
    mine, _ = register_attendee(conference, user=person)
    others, _ = register_attendee(conference, user=other)
    check_in_attendee(conference, badge_code=others.badge_code, by=person)
    check_in_attendee(conference, badge_code=mine.badge_code, by=other)
    bookmark_session(session, user=person)
    bookmark_session(session, user=other)
    ConferenceOrganizer.objects.create(conference=conference, user=person)
    PendingSessionChange.objects.create(
        conference=conference,
        session_key=session.pk,
        title=session.title,
        baseline={},
        bookmarkers=[person.pk, other.pk],
        token="t",
        due_at=now + timedelta(minutes=1),
    )
    # events: person hosts one (other checked in by them), holds the last seat of another
    hosted = EventFactory(conference=conference, host=person)
    rsvp_event(hosted, user=other)
    check_in_guest(hosted, user=other, by=person)
    message_guests(hosted, sender=person, text="Welcome!")
    full_event = EventFactory(conference=conference, host=other, capacity=1)
    rsvp_event(full_event, user=person)
    rsvp_event(full_event, user=waiting)
    # connections
    request_connection(person, to_user_id=other.pk, message="Hi Olga")
    request_connection(fourth, to_user_id=person.pk, message="Hi Erin")
    block_user(person, target_id=third.pk)
    block_user(waiting, target_id=person.pk)
    # meetings: an accepted upcoming meeting with other
    window = create_meeting_window(
        conference, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=3), tables=["T1"]
    )
    meeting = request_meeting(
        person, conference=conference, with_user_id=other.pk, starts_at=window.slots.first().starts_at
    )
    accept_meeting(other, meeting_id=meeting.pk)
    asked = request_meeting(
        other, conference=conference, with_user_id=person.pk, starts_at=window.slots.last().starts_at
    )
    cancel_meeting(person, meeting_id=asked.pk)
    # live
    question = ask_question(session, author=person, text="Will my data be erased?")
    theirs = ask_question(session, author=other, text="Olga's question")
    vote_question(theirs, user=person)
    vote_question(question, user=other)
    moderate_question(theirs, action="pin", by=person)
    poll = Poll.objects.create(session=session, question="Tea or coffee?", created_by=person, closed_by=person)
    option = PollOption.objects.create(poll=poll, text="Tea", position=0)
    PollVote.objects.create(poll=poll, option=option, user=person, voted_at=now)
    Feedback.objects.create(session=session, user=person, rating=5, comment="Great talk")
    # quests
    quest = make_quest(conference=conference, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
    task = quest.tasks.get()
    submit_task(task, user=person, answer=SECRET_CODE)
    submit_task(task, user=other, answer=SECRET_CODE)
    proof = Task.objects.create(quest=quest, title="Proof", type="proof", config={"kind": "text"})
    Submission.objects.create(task=proof, user=other, status="approved", text="x", reviewer=person, reviewed_at=now)
    with transaction.atomic():
        award_points(person.pk, points=7, reason="bonus", source="test:bonus", quest=None)
    reward = Reward.objects.create(quest=quest, title="T-shirt", stock=5)
    claim_reward(reward, user=person)
    RewardClaim.objects.create(reward=reward, user=other, handed_out_at=now, handed_out_by=person)
    invite_code_for(person)
    accept_invite(other, code=invite_code_for(person).code)
    accept_invite(person, code=invite_code_for(third).code)
    SprintWin.objects.create(conference=conference, day=now.date(), user=person, rank=1, points=10)
    # notifications and broadcasts
    note = Notification.objects.create(user=person, kind="broadcast", title="For Erin")
    TelegramDelivery.objects.create(user=person, channel="telegram", notification=note)
    broadcast = Broadcast.objects.create(
        title="Hello all", audience={"segment": "all"}, channels=["in_app"], created_by=person
    )
    Delivery.objects.create(broadcast=broadcast, user=person, channel="in_app")
    # Telegram chats
    link = ChatLink.objects.create(
        conference=conference, chat_id=-1001234567, type="supergroup", purpose="community", linked_by=person
    )
    InviteLink.objects.create(chat=link, user=person, invite_link="https://t.me/+erin-only")
    JoinRequest.objects.create(
        chat=link, telegram_user_id=person.telegram_id, requested_at=now, user=person, decision="approve"
    )
    # uploads: a photo sent but not yet used
    upload, _target = create_upload(person, purpose="proof", content_type="image/png", size=len(png_upload().read()))
    upload_name = default_storage.save(staging_name(upload.key), ContentFile(png_upload().read()))
    # bot
    ProcessedUpdate.objects.create(
        update_id=987654,
        payload={"update_id": 987654, "message": {"from": {"id": person.telegram_id}, "text": "/agenda"}},
        handled_at=now,
    )
    person.refresh_from_db()
    return World(
        person=person,
        other=other,
        waiting=waiting,
        tokens=tokens,
        other_tokens=other_tokens,
        conference=conference,
        full_event=full_event,
        meeting=meeting,
        avatar_name=person.avatar.name,
        upload_name=upload_name,
    )
