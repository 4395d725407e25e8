"""
Authorization across the whole API, driven by the OpenAPI schema: every
operation is classified below, so a new endpoint that nobody classified fails
``test_every_operation_is_classified`` instead of slipping through.

- anonymous → 401 ``NOT_AUTHENTICATED`` on everything that is not public;
- admin operations: no credentials or a wrong ``X-Admin-Key`` → 401, a
  normal user's JWT → 403 ``PERMISSION_DENIED``;
- role and host operations: a normal user → 403;
- another user's private object → 404, never 403;
- co-organizers: every operation classified again for a co-organizer of the
  world's conference and one of another conference, with the status each gets
  (``CO_ORGANIZER``).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from broadcasts.models import Broadcast
from conferences.organizers import add_organizer
from connections.models import Connection
from live.models import Poll, PollOption, Question
from meetings.services import create_meeting_window, request_meeting
from notifications.models import Notification
from quests.models import Quest, Reward, Submission, Task
from tests.conftest import client_for
from tests.factories import (
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    RoomFactory,
    SessionFactory,
    SpeakerFactory,
    TrackFactory,
    UserFactory,
)
from uploads.models import Upload

pytestmark = pytest.mark.django_db

PUBLIC = {
    "POST /api/v1/auth/logout/",
    "POST /api/v1/auth/telegram/",
    "POST /api/v1/auth/telegram/bot-login/",
    "GET /api/v1/auth/telegram/bot-login/{token}/",
    "POST /api/v1/auth/telegram/webapp/",
    "GET /api/v1/auth/telegram/oidc/",
    "POST /api/v1/auth/telegram/oidc/",
    "POST /api/v1/auth/token/refresh/",
    "GET /api/v1/calendar/{token}.ics",
    "GET /api/v1/conferences/",
    "GET /api/v1/conferences/{slug}/",
    "GET /api/v1/conferences/{slug}/rooms/",
    "GET /api/v1/conferences/{slug}/tracks/",
    "GET /api/v1/conferences/{slug}/schedule.ics",
    "GET /api/v1/conferences/{slug}/schedule.json",
    "GET /api/v1/conferences/{slug}/schedule.xml",
    "GET /api/v1/conferences/{slug}/rooms/{room_id}/",
    "GET /api/v1/conferences/{slug}/tracks/{track_id}/",
    "GET /api/v1/conferences/{slug}/sessions/",
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/",
    "GET /api/v1/conferences/{slug}/speakers/",
    "GET /api/v1/conferences/{slug}/speakers/{speaker_id}/",
    "GET /api/v1/events/",
    "GET /api/v1/events/{event_id}/",
    # Authenticated by Telegram's secret-token header instead (403 without it).
    "POST /api/v1/integrations/telegram/webhook/",
    # Local storage's one-time upload URL: its signed token is the credential (403 without it).
    "PUT /api/v1/uploads/local/{token}/",
}

ADMIN = {
    "GET /api/v1/admin/broadcasts/",
    "POST /api/v1/admin/broadcasts/",
    "GET /api/v1/admin/broadcasts/{id}/",
    "POST /api/v1/admin/broadcasts/{id}/cancel/",
    "POST /api/v1/admin/broadcasts/preview/",
    "POST /api/v1/conferences/",
    "PATCH /api/v1/conferences/{slug}/",
    "POST /api/v1/conferences/{slug}/schedule-import/",
    "POST /api/v1/conferences/{slug}/schedule-sync/",
    "GET /api/v1/conferences/{slug}/organizers/",
    "POST /api/v1/conferences/{slug}/organizers/",
    "DELETE /api/v1/conferences/{slug}/organizers/{user_id}/",
    "POST /api/v1/conferences/{slug}/sessions/",
    "PATCH /api/v1/conferences/{slug}/sessions/{session_id}/",
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/",
    "POST /api/v1/conferences/{slug}/rooms/",
    "PATCH /api/v1/conferences/{slug}/rooms/{room_id}/",
    "DELETE /api/v1/conferences/{slug}/rooms/{room_id}/",
    "POST /api/v1/conferences/{slug}/tracks/",
    "PATCH /api/v1/conferences/{slug}/tracks/{track_id}/",
    "DELETE /api/v1/conferences/{slug}/tracks/{track_id}/",
    "POST /api/v1/conferences/{slug}/speakers/",
    "PATCH /api/v1/conferences/{slug}/speakers/{speaker_id}/",
    "DELETE /api/v1/conferences/{slug}/speakers/{speaker_id}/",
    "POST /api/v1/quests/",
    "POST /api/v1/quests/{id}/rewards/",
    "GET /api/v1/quests/submissions/",
    "POST /api/v1/quests/submissions/{id}/review/",
}

# Roles (organizer, staff), hosts and co-organizers: a plain user gets 403; admins pass.
ROLE_OR_HOST = {
    "POST /api/v1/conferences/{slug}/meeting-windows/",
    "POST /api/v1/conferences/{slug}/check-ins/",
    "POST /api/v1/events/",
    "PATCH /api/v1/events/{event_id}/",
    "DELETE /api/v1/events/{event_id}/",
    "POST /api/v1/events/{event_id}/check-ins/",
    "POST /api/v1/events/{event_id}/messages/",
    "GET /api/v1/events/{event_id}/rsvps/",
    "POST /api/v1/conferences/{slug}/chats/",
    "DELETE /api/v1/conferences/{slug}/chats/{chat_id}/",
    "POST /api/v1/events/{event_id}/chats/",
    "DELETE /api/v1/events/{event_id}/chats/{chat_id}/",
}

# A live session's moderators (its speakers' users, staff, the conference's
# co-organizers, admins): a plain user gets 403; admins pass.
MODERATOR = {
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/moderate/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/{poll_id}/close/",
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/feedback/",
}

USER = {
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/questions/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/vote/",
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/vote/",
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/polls/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/{poll_id}/vote/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/feedback/",
    "GET /api/v1/conferences/{slug}/attendance/",
    "POST /api/v1/conferences/{slug}/attendance/",
    "GET /api/v1/conferences/{slug}/attendance/badge.png",
    "GET /api/v1/conferences/{slug}/attendees/",
    "GET /api/v1/conferences/{slug}/meeting-slots/",
    "GET /api/v1/conferences/{slug}/meeting-windows/",
    "GET /api/v1/conferences/{slug}/my-agenda/",
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/bookmark/",
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/bookmark/",
    "GET /api/v1/connections/",
    "POST /api/v1/connections/",
    "GET /api/v1/connections/{id}/",
    "DELETE /api/v1/connections/{id}/",
    "POST /api/v1/connections/{id}/accept/",
    "POST /api/v1/connections/{id}/decline/",
    "GET /api/v1/connections/recommendations/",
    "POST /api/v1/connections/scan/",
    "POST /api/v1/events/{event_id}/rsvp/",
    "DELETE /api/v1/events/{event_id}/rsvp/",
    "GET /api/v1/leaderboard/",
    "GET /api/v1/meetings/",
    "POST /api/v1/meetings/",
    "GET /api/v1/meetings/{id}/",
    "POST /api/v1/meetings/{id}/accept/",
    "POST /api/v1/meetings/{id}/cancel/",
    "POST /api/v1/meetings/{id}/decline/",
    "GET /api/v1/notifications/",
    "POST /api/v1/notifications/{id}/read/",
    "POST /api/v1/notifications/read-all/",
    "GET /api/v1/notifications/unread-count/",
    "GET /api/v1/quests/",
    "GET /api/v1/quests/{id}/",
    "POST /api/v1/quests/{quest_id}/tasks/{task_id}/submissions/",
    "GET /api/v1/quests/{quest_id}/tasks/{task_id}/invite/",
    "GET /api/v1/quests/{id}/rewards/",
    "POST /api/v1/quests/{id}/rewards/{rid}/claim/",
    "POST /api/v1/users/me/invited-by/",
    "GET /api/v1/users/{user_id}/",
    "POST /api/v1/users/{user_id}/block/",
    "DELETE /api/v1/users/{user_id}/block/",
    "GET /api/v1/users/me/",
    "PATCH /api/v1/users/me/",
    "PUT /api/v1/users/me/avatar/",
    "GET /api/v1/users/me/calendar/",
    "POST /api/v1/users/me/calendar/",
    "POST /api/v1/users/me/enrich/",
    "GET /api/v1/users/me/points/",
    "DELETE /api/v1/users/me/",
    "GET /api/v1/users/me/export/",
    "POST /api/v1/uploads/",
    "POST /api/v1/uploads/{upload_id}/complete/",
    # A logged-in person who is not registered (or going) gets 403 NOT_REGISTERED.
    "GET /api/v1/conferences/{slug}/chats/",
    "GET /api/v1/events/{event_id}/chats/",
}


# --- Co-organizers -----------------------------------------------------------------------
#
# Every operation, as (status for a co-organizer of the world's conference,
# status for a co-organizer of another conference), each calling with an
# empty JSON body (or the body in CO_ORGANIZER_BODIES). A new operation that
# is not classified here fails test_every_operation_is_classified_for_co_organizers.

# Admin paths of one conference: its co-organizers do what an admin does
# (a 400 is the empty body refused after the permission check); others 403.
CO_ORGANIZER_MANAGES = {
    "GET /api/v1/admin/broadcasts/{id}/": (200, 403),
    "POST /api/v1/admin/broadcasts/{id}/cancel/": (200, 403),
    "PATCH /api/v1/conferences/{slug}/": (200, 403),
    "POST /api/v1/conferences/{slug}/check-ins/": (400, 403),
    "POST /api/v1/conferences/{slug}/meeting-windows/": (400, 403),
    "GET /api/v1/conferences/{slug}/organizers/": (200, 403),
    "POST /api/v1/conferences/{slug}/rooms/": (400, 403),
    "DELETE /api/v1/conferences/{slug}/rooms/{room_id}/": (204, 403),
    "PATCH /api/v1/conferences/{slug}/rooms/{room_id}/": (200, 403),
    "POST /api/v1/conferences/{slug}/schedule-import/": (400, 403),
    "POST /api/v1/conferences/{slug}/schedule-sync/": (409, 403),
    "POST /api/v1/conferences/{slug}/sessions/": (400, 403),
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/": (204, 403),
    "PATCH /api/v1/conferences/{slug}/sessions/{session_id}/": (200, 403),
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/feedback/": (200, 403),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/": (400, 403),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/{poll_id}/close/": (200, 403),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/moderate/": (400, 403),
    "POST /api/v1/conferences/{slug}/speakers/": (400, 403),
    "DELETE /api/v1/conferences/{slug}/speakers/{speaker_id}/": (204, 403),
    "PATCH /api/v1/conferences/{slug}/speakers/{speaker_id}/": (200, 403),
    "POST /api/v1/conferences/{slug}/tracks/": (400, 403),
    "DELETE /api/v1/conferences/{slug}/tracks/{track_id}/": (204, 403),
    "PATCH /api/v1/conferences/{slug}/tracks/{track_id}/": (200, 403),
    "DELETE /api/v1/events/{event_id}/": (204, 403),
    "PATCH /api/v1/events/{event_id}/": (200, 403),
    "POST /api/v1/events/{event_id}/check-ins/": (400, 403),
    "POST /api/v1/events/{event_id}/messages/": (400, 403),
    "GET /api/v1/events/{event_id}/rsvps/": (200, 403),
    "POST /api/v1/quests/submissions/{id}/review/": (400, 403),
    "POST /api/v1/quests/{id}/rewards/": (400, 403),
    "GET /api/v1/conferences/{slug}/chats/": (200, 403),  # 403 NOT_REGISTERED for the other
    "POST /api/v1/conferences/{slug}/chats/": (400, 403),
    "DELETE /api/v1/conferences/{slug}/chats/{chat_id}/": (404, 403),  # the world links no chat to it
    "GET /api/v1/events/{event_id}/chats/": (200, 403),
    "POST /api/v1/events/{event_id}/chats/": (400, 403),
    "DELETE /api/v1/events/{event_id}/chats/{chat_id}/": (404, 403),
}

# The conference is named in the body: with a body naming the world's
# conference, its co-organizers pass and the others get 403.
CO_ORGANIZER_BODY_SCOPED = {
    "POST /api/v1/admin/broadcasts/": (201, 403),
    "POST /api/v1/admin/broadcasts/preview/": (200, 403),
    "POST /api/v1/events/": (201, 403),
    "POST /api/v1/quests/": (201, 403),
}

# Lists without a conference in the path: both may call them, each sees
# only their conferences' rows (test_co_organizer_lists_show_only_their_conferences).
CO_ORGANIZER_SCOPED_LISTS = {
    "GET /api/v1/admin/broadcasts/": (200, 200),
    "GET /api/v1/quests/submissions/": (200, 200),
}

# Global: creating a conference and naming co-organizers stay with admins.
CO_ORGANIZER_ADMIN_ONLY = {
    "POST /api/v1/conferences/": (403, 403),
    "POST /api/v1/conferences/{slug}/organizers/": (403, 403),
    "DELETE /api/v1/conferences/{slug}/organizers/{user_id}/": (403, 403),
}

# Everything else answers a co-organizer as it answers any logged-in user
# (the same for both): public reads, the caller's own things, other people's
# private objects (404), the Telegram webhook (403 without its secret).
CO_ORGANIZER_AS_USER = {
    "POST /api/v1/auth/logout/": (400, 400),
    "POST /api/v1/auth/telegram/": (400, 400),
    "POST /api/v1/auth/telegram/bot-login/": (201, 201),
    "GET /api/v1/auth/telegram/bot-login/{token}/": (404, 404),
    "GET /api/v1/auth/telegram/oidc/": (503, 503),
    "POST /api/v1/auth/telegram/oidc/": (400, 400),
    "POST /api/v1/auth/telegram/webapp/": (400, 400),
    "POST /api/v1/auth/token/refresh/": (400, 400),
    "GET /api/v1/calendar/{token}.ics": (404, 404),
    "GET /api/v1/conferences/": (200, 200),
    "GET /api/v1/conferences/{slug}/": (200, 200),
    "GET /api/v1/conferences/{slug}/attendance/": (404, 404),
    "POST /api/v1/conferences/{slug}/attendance/": (201, 201),
    "GET /api/v1/conferences/{slug}/attendance/badge.png": (404, 404),
    "GET /api/v1/conferences/{slug}/attendees/": (200, 200),
    "GET /api/v1/conferences/{slug}/meeting-slots/": (400, 400),
    "GET /api/v1/conferences/{slug}/meeting-windows/": (200, 200),
    "GET /api/v1/conferences/{slug}/my-agenda/": (200, 200),
    "GET /api/v1/conferences/{slug}/rooms/": (200, 200),
    "GET /api/v1/conferences/{slug}/rooms/{room_id}/": (200, 200),
    "GET /api/v1/conferences/{slug}/schedule.ics": (200, 200),
    "GET /api/v1/conferences/{slug}/schedule.json": (200, 200),
    "GET /api/v1/conferences/{slug}/schedule.xml": (200, 200),
    "GET /api/v1/conferences/{slug}/sessions/": (200, 200),
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/": (200, 200),
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/bookmark/": (204, 204),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/bookmark/": (201, 201),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/feedback/": (400, 400),
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/polls/": (200, 200),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/polls/{poll_id}/vote/": (400, 400),
    "GET /api/v1/conferences/{slug}/sessions/{session_id}/questions/": (200, 200),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/": (400, 400),
    "DELETE /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/vote/": (204, 204),
    "POST /api/v1/conferences/{slug}/sessions/{session_id}/questions/{question_id}/vote/": (200, 200),
    "GET /api/v1/conferences/{slug}/speakers/": (200, 200),
    "GET /api/v1/conferences/{slug}/speakers/{speaker_id}/": (200, 200),
    "GET /api/v1/conferences/{slug}/tracks/": (200, 200),
    "GET /api/v1/conferences/{slug}/tracks/{track_id}/": (200, 200),
    "GET /api/v1/connections/": (200, 200),
    "POST /api/v1/connections/": (400, 400),
    "GET /api/v1/connections/recommendations/": (400, 400),
    "POST /api/v1/connections/scan/": (400, 400),
    "DELETE /api/v1/connections/{id}/": (404, 404),
    "GET /api/v1/connections/{id}/": (404, 404),
    "POST /api/v1/connections/{id}/accept/": (404, 404),
    "POST /api/v1/connections/{id}/decline/": (404, 404),
    "GET /api/v1/events/": (200, 200),
    "GET /api/v1/events/{event_id}/": (200, 200),
    "DELETE /api/v1/events/{event_id}/rsvp/": (204, 204),
    "POST /api/v1/events/{event_id}/rsvp/": (201, 201),
    "POST /api/v1/integrations/telegram/webhook/": (403, 403),
    "GET /api/v1/leaderboard/": (200, 200),
    "GET /api/v1/meetings/": (200, 200),
    "POST /api/v1/meetings/": (400, 400),
    "GET /api/v1/meetings/{id}/": (404, 404),
    "POST /api/v1/meetings/{id}/accept/": (404, 404),
    "POST /api/v1/meetings/{id}/cancel/": (404, 404),
    "POST /api/v1/meetings/{id}/decline/": (404, 404),
    "GET /api/v1/notifications/": (200, 200),
    "POST /api/v1/notifications/read-all/": (200, 200),
    "GET /api/v1/notifications/unread-count/": (200, 200),
    "POST /api/v1/notifications/{id}/read/": (404, 404),
    "GET /api/v1/quests/": (200, 200),
    "GET /api/v1/quests/{id}/": (200, 200),
    "GET /api/v1/quests/{id}/rewards/": (200, 200),
    "POST /api/v1/quests/{id}/rewards/{rid}/claim/": (409, 409),
    "GET /api/v1/quests/{quest_id}/tasks/{task_id}/invite/": (404, 404),
    "POST /api/v1/quests/{quest_id}/tasks/{task_id}/submissions/": (400, 400),
    "GET /api/v1/users/me/": (200, 200),
    "PATCH /api/v1/users/me/": (200, 200),
    "PUT /api/v1/users/me/avatar/": (400, 400),
    "GET /api/v1/users/me/calendar/": (200, 200),
    "POST /api/v1/users/me/calendar/": (200, 200),
    "POST /api/v1/users/me/enrich/": (202, 202),
    "POST /api/v1/users/me/invited-by/": (400, 400),
    "GET /api/v1/users/me/points/": (200, 200),
    "GET /api/v1/users/me/export/": (200, 200),
    "DELETE /api/v1/users/me/": (204, 204),  # the shortest delete, so the last call of each person
    "GET /api/v1/users/{user_id}/": (200, 200),
    "POST /api/v1/uploads/": (400, 400),
    "PUT /api/v1/uploads/local/{token}/": (403, 403),
    "POST /api/v1/uploads/{upload_id}/complete/": (404, 404),
    "DELETE /api/v1/users/{user_id}/block/": (204, 204),
    "POST /api/v1/users/{user_id}/block/": (201, 201),
}

# The contract's code where a refusal is not PERMISSION_DENIED: chat lists tell
# a person who does not belong there how to (NOT_REGISTERED).
REFUSAL_CODES = {
    "GET /api/v1/conferences/{slug}/chats/": "NOT_REGISTERED",
    "GET /api/v1/events/{event_id}/chats/": "NOT_REGISTERED",
}

CO_ORGANIZER = {
    **CO_ORGANIZER_MANAGES,
    **CO_ORGANIZER_BODY_SCOPED,
    **CO_ORGANIZER_SCOPED_LISTS,
    **CO_ORGANIZER_ADMIN_ONLY,
    **CO_ORGANIZER_AS_USER,
}


def _schema_operations() -> set[str]:
    schema = APIClient().get("/api/schema/?format=json").json()
    return {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }


@pytest.fixture
def world():
    """One of each object, owned by someone other than the caller."""
    owner = UserFactory()
    conference = ConferenceFactory()
    session = SessionFactory(conference=conference)
    speaker = SpeakerFactory(conference=conference)
    room = RoomFactory(conference=conference)
    track = TrackFactory(conference=conference)
    event = EventFactory(conference=conference, host=owner)
    now = timezone.now()
    quest = Quest.objects.create(
        title="Q", conference=conference, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1)
    )
    task = Task.objects.create(quest=quest, title="Proof", type="proof", config={"kind": "text"})
    submission = Submission.objects.create(task=task, user=owner, status="pending", text="done")
    reward = Reward.objects.create(quest=quest, title="R", stock=1)
    notification = Notification.objects.create(user=owner, kind="session_reminder", title="private")
    third = UserFactory()
    connection = Connection.objects.create(from_user=owner, to_user=third)
    broadcast = Broadcast.objects.create(
        title="B", audience={"segment": "attendees", "conference": conference.slug}, channels=["in_app"]
    )
    AttendanceFactory(conference=conference, user=owner)
    AttendanceFactory(conference=conference, user=third)
    window = create_meeting_window(
        conference, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=3), tables=["T1"]
    )
    meeting = request_meeting(
        owner, conference=conference, with_user_id=third.pk, starts_at=window.slots.first().starts_at
    )
    question = Question.objects.create(session=session, author=owner, text="Why?")
    upload = Upload.objects.create(
        owner=owner, purpose="proof", content_type="image/png", size=100, key="proofs/x.png", expires_at=now
    )
    poll = Poll.objects.create(session=session, question="Which?")
    PollOption.objects.bulk_create([PollOption(poll=poll, text=t, position=i) for i, t in enumerate("ab")])
    return {
        "conference": conference,
        "question_id": question.pk,
        "upload_id": upload.pk,
        "poll_id": poll.pk,
        "slug": conference.slug,
        "session_id": session.pk,
        "speaker_id": speaker.pk,
        "room_id": room.pk,
        "track_id": track.pk,
        "event_id": event.pk,
        "quest_id": quest.pk,
        "task_id": task.pk,
        "rid": reward.pk,
        "user_id": owner.pk,
        "token": "not-a-token",
        "chat_id": 1,
        "submission": submission,
        "notification": notification,
        "connection": connection,
        "meeting": meeting,
        "broadcast": broadcast,
        "owner": owner,
        "third": third,
    }


def _url(operation: str, world: dict) -> tuple[str, str]:
    method, path = operation.split(" ", 1)

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "id":
            if "/admin/broadcasts/" in path:
                return str(world["broadcast"].pk)
            if "/submissions/" in path:
                return str(world["submission"].pk)
            if "/notifications/" in path:
                return str(world["notification"].pk)
            if "/connections/" in path:
                return str(world["connection"].pk)
            if "/meetings/" in path:
                return str(world["meeting"].pk)
            return str(world["quest_id"])
        return str(world[name])

    return method, re.sub(r"\{(\w+)\}", value, path)


def _call(client: APIClient, method: str, url: str):
    return getattr(client, method.lower())(url, {}, format="json")


def test_every_operation_is_classified():
    classified = PUBLIC | ADMIN | ROLE_OR_HOST | MODERATOR | USER

    operations = _schema_operations()

    assert operations - classified == set(), "classify these new operations in this file"
    assert classified - operations == set(), "these classified operations no longer exist"


def test_every_operation_is_classified_for_co_organizers():
    groups = [
        CO_ORGANIZER_MANAGES,
        CO_ORGANIZER_BODY_SCOPED,
        CO_ORGANIZER_SCOPED_LISTS,
        CO_ORGANIZER_ADMIN_ONLY,
        CO_ORGANIZER_AS_USER,
    ]

    operations = _schema_operations()

    assert operations - set(CO_ORGANIZER) == set(), "classify these new operations for co-organizers"
    assert set(CO_ORGANIZER) - operations == set(), "these classified operations no longer exist"
    assert sum(len(group) for group in groups) == len(CO_ORGANIZER), "an operation is in two groups"
    # Every admin operation of the first classification is a decision here, not "as any user".
    assert (ADMIN | ROLE_OR_HOST | MODERATOR) & set(CO_ORGANIZER_AS_USER) == set()


def test_anonymous_is_401_on_every_non_public_operation(world):
    anonymous = APIClient()
    failures = {}
    for operation in sorted(ADMIN | ROLE_OR_HOST | MODERATOR | USER):
        method, url = _url(operation, world)
        response = _call(anonymous, method, url)
        if response.status_code != 401 or response.json().get("code") != "NOT_AUTHENTICATED":
            failures[operation] = (response.status_code, response.content[:120])

    assert failures == {}


def test_admin_operations_refuse_a_wrong_key_with_401(world):
    client = APIClient()
    client.credentials(HTTP_X_ADMIN_KEY="wrong-key")
    failures = {}
    for operation in sorted(ADMIN):
        method, url = _url(operation, world)
        response = _call(client, method, url)
        if response.status_code != 401 or response.json().get("code") != "NOT_AUTHENTICATED":
            failures[operation] = (response.status_code, response.content[:120])

    assert failures == {}


def test_admin_role_and_host_operations_refuse_a_normal_user_with_403(world):
    client = client_for(UserFactory())
    failures = {}
    for operation in sorted(ADMIN | ROLE_OR_HOST | MODERATOR):
        method, url = _url(operation, world)
        response = _call(client, method, url)
        if response.status_code != 403 or response.json().get("code") != "PERMISSION_DENIED":
            failures[operation] = (response.status_code, response.content[:120])

    assert failures == {}


def test_public_operations_do_not_ask_for_credentials(world):
    anonymous = APIClient()
    failures = {}
    for operation in sorted(PUBLIC):
        method, url = _url(operation, world)
        response = _call(anonymous, method, url)
        if response.status_code == 401 and "telegram" not in url and "refresh" not in url and "logout" not in url:
            failures[operation] = response.status_code

    assert failures == {}


def test_another_users_notification_is_404(world):
    client = client_for(world["third"])

    response = client.post(f"/api/v1/notifications/{world['notification'].pk}/read/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    world["notification"].refresh_from_db()
    assert world["notification"].read_at is None


@pytest.mark.parametrize("action", ["get", "accept", "decline", "delete"])
def test_a_connection_between_two_others_is_404_to_a_third(world, action):
    outsider = client_for(UserFactory())
    pk = world["connection"].pk

    if action == "get":
        response = outsider.get(f"/api/v1/connections/{pk}/")
    elif action == "delete":
        response = outsider.delete(f"/api/v1/connections/{pk}/")
    else:
        response = outsider.post(f"/api/v1/connections/{pk}/{action}/")

    assert response.status_code == 404
    assert Connection.objects.filter(pk=pk, status="pending").exists()


@pytest.mark.parametrize("action", ["get", "accept", "decline", "cancel"])
def test_a_meeting_between_two_others_is_404_to_a_third(world, action):
    outsider = client_for(UserFactory())
    pk = world["meeting"].pk

    if action == "get":
        response = outsider.get(f"/api/v1/meetings/{pk}/")
    else:
        response = outsider.post(f"/api/v1/meetings/{pk}/{action}/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    world["meeting"].refresh_from_db()
    assert world["meeting"].status == "pending"


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_the_sender_cannot_answer_their_own_request(world, action):
    sender = client_for(world["owner"])

    response = sender.post(f"/api/v1/connections/{world['connection'].pk}/{action}/")

    assert response.status_code == 404
    assert Connection.objects.get(pk=world["connection"].pk).status == "pending"


def test_another_users_submission_is_not_listed_to_them(world):
    outsider = client_for(UserFactory())

    response = outsider.get("/api/v1/quests/submissions/")

    assert response.status_code == 403


def test_admin_key_and_staff_jwt_both_pass_admin_operations(world, admin_api, admin_user):
    staff = client_for(admin_user)

    for client in (admin_api, staff):
        assert client.get("/api/v1/admin/broadcasts/").status_code == 200
        assert client.get("/api/v1/quests/submissions/").status_code == 200


def test_admin_key_and_staff_jwt_pass_moderator_operations(world, admin_api, admin_user):
    staff = client_for(admin_user)
    feedback = f"/api/v1/conferences/{world['slug']}/sessions/{world['session_id']}/feedback/"

    for client in (admin_api, staff):
        assert client.get(feedback).status_code == 200


def _co_organizer_bodies(world: dict) -> dict[str, dict]:
    """Bodies naming the world's conference, for the operations that take the conference in the body."""
    slug = world["slug"]
    start = timezone.now() + timedelta(days=1)
    return {
        "POST /api/v1/events/": {
            "title": "Co-organized",
            "conference": slug,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
        },
        "POST /api/v1/quests/": {
            "title": "Co-organized",
            "conference": slug,
            "tasks": [{"title": "Say hi", "type": "code", "points": 5, "config": {"code": "hi"}}],
        },
        "POST /api/v1/admin/broadcasts/": {
            "title": "Doors open",
            "audience": {"segment": "attendees", "conference": slug},
            "channels": ["in_app"],
        },
        "POST /api/v1/admin/broadcasts/preview/": {"audience": {"segment": "attendees", "conference": slug}},
    }


def _co_organizer_order(operations) -> list[str]:
    """Reads and writes first, then deletes, the deepest paths first (an event's RSVP before the event)."""
    return sorted(operations, key=lambda op: (op.startswith("DELETE"), -len(op) if op.startswith("DELETE") else 0, op))


def test_co_organizers_get_the_classified_status_on_every_operation(world):
    """
    The other conference's co-organizer goes first, so every write they are
    refused is still there for the world's co-organizer to make.
    """
    same, other = UserFactory(), UserFactory()
    add_organizer(world["conference"], user=same)
    add_organizer(ConferenceFactory(), user=other)
    bodies = _co_organizer_bodies(world)
    failures = {}
    for position, person in ((1, other), (0, same)):
        client = client_for(person)
        for operation in _co_organizer_order(CO_ORGANIZER):
            method, url = _url(operation, world)
            response = getattr(client, method.lower())(url, bodies.get(operation, {}), format="json")
            expected = CO_ORGANIZER[operation][position]
            refused_right = expected != 403 or response.json().get("code") == REFUSAL_CODES.get(
                operation, "PERMISSION_DENIED"
            )
            if response.status_code != expected or not refused_right:
                failures[(operation, "same" if position == 0 else "other")] = (
                    response.status_code,
                    response.content[:120],
                )

    assert failures == {}


def test_co_organizer_lists_show_only_their_conferences(world):
    same, other = UserFactory(), UserFactory()
    add_organizer(world["conference"], user=same)
    add_organizer(ConferenceFactory(), user=other)
    Broadcast.objects.create(title="To all", audience={"segment": "all"}, channels=["in_app"])

    listed = {
        who: (
            [row["id"] for row in client_for(person).get("/api/v1/admin/broadcasts/").json()["results"]],
            [row["id"] for row in client_for(person).get("/api/v1/quests/submissions/").json()["results"]],
        )
        for who, person in (("same", same), ("other", other))
    }

    assert listed == {
        "same": ([world["broadcast"].pk], [world["submission"].pk]),
        "other": ([], []),
    }


def test_a_co_organizer_sees_schedule_url_of_their_conference_only(world):
    same, other = UserFactory(), UserFactory()
    add_organizer(world["conference"], user=same)
    add_organizer(ConferenceFactory(), user=other)
    url = f"/api/v1/conferences/{world['slug']}/"

    assert "schedule_url" in client_for(same).get(url).json()
    assert "schedule_url" not in client_for(other).get(url).json()


def test_another_users_upload_is_404(world):
    response = client_for(world["third"]).post(f"/api/v1/uploads/{world['upload_id']}/complete/")

    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
