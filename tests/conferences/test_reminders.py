from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from conferences.models import Bookmark
from conferences.services import send_session_reminders
from conferences.tasks import send_session_reminders_task
from notifications.models import Notification
from tests.factories import RoomFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _bookmark(starts_in: timedelta, *, user=None, title="Talk") -> Bookmark:
    now = timezone.now()
    session = SessionFactory(title=title, starts_at=now + starts_in, ends_at=now + starts_in + timedelta(minutes=30))
    return Bookmark.objects.create(user=user or UserFactory(), session=session)


def test_reminder_goes_out_once_for_sessions_starting_soon():
    soon = _bookmark(timedelta(minutes=10), title="Rollups")
    _bookmark(timedelta(minutes=40))
    _bookmark(-timedelta(minutes=5))

    first = send_session_reminders()
    second = send_session_reminders()

    assert (first, second) == (1, 0)
    notification = Notification.objects.get()
    assert notification.user == soon.user
    assert notification.kind == "session_reminder"
    assert "Rollups" in notification.title
    assert notification.data["session"] == soon.session.pk
    assert notification.data["conference"] == soon.session.conference.slug
    soon.refresh_from_db()
    assert soon.reminded_at is not None


def test_reminder_window_follows_setting(settings):
    settings.SESSION_REMINDER_MINUTES = 60
    _bookmark(timedelta(minutes=40))

    assert send_session_reminders() == 1


def test_each_bookmarking_user_is_reminded():
    now = timezone.now()
    session = SessionFactory(starts_at=now + timedelta(minutes=5), ends_at=now + timedelta(minutes=35))
    users = [UserFactory() for _ in range(3)]
    for user in users:
        Bookmark.objects.create(user=user, session=session)

    sent = send_session_reminders()

    assert sent == 3
    assert set(Notification.objects.values_list("user_id", flat=True)) == {u.pk for u in users}


def test_already_claimed_bookmark_is_skipped():
    bookmark = _bookmark(timedelta(minutes=5))
    Bookmark.objects.filter(pk=bookmark.pk).update(reminded_at=timezone.now())

    assert send_session_reminders() == 0
    assert Notification.objects.count() == 0


def test_reminder_body_names_room():
    bookmark = _bookmark(timedelta(minutes=5))
    bookmark.session.room = RoomFactory(conference=bookmark.session.conference, name="Main Stage")
    bookmark.session.save()

    send_session_reminders()

    assert "in Main Stage" in Notification.objects.get().body


def test_task_runs_the_service():
    _bookmark(timedelta(minutes=5))

    assert send_session_reminders_task.delay().get() == 1


def test_beat_schedule_runs_reminders_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["conferences-session-reminders"]

    assert entry["task"] == send_session_reminders_task.name == "conferences.send_session_reminders"
    assert entry["schedule"] == 60.0
