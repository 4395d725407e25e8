"""Schedule changes reach the people who bookmarked the session: once, in words, after the debounce window."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from conferences import changes
from conferences.models import Attendance, Bookmark, PendingSessionChange, Session
from conferences.services import import_schedule, send_session_reminders
from notifications.models import Notification
from tests.conferences.schedules import edited, events_of, load
from tests.factories import ConferenceFactory, UserFactory
from tests.notifications.conftest import telegram_user

pytestmark = pytest.mark.django_db

GUID = "8079583e-8321-506c-95af-fd2903a5f075"  # 09:00+01:00 in Gray Room, democon


def _later():
    return timezone.now() + timedelta(seconds=120)


def _moved(data: dict, *, date: str = "2020-12-14T10:30:00+01:00", room: str | None = "Tan Room") -> dict:
    data = edited(data)
    for event in events_of(data):
        if event["guid"] == GUID:
            event["date"] = date
            if room:
                event["room"] = room
    return data


def _removed(data: dict) -> dict:
    data = edited(data)
    for day in data["schedule"]["conference"]["days"]:
        for room, events in day["rooms"].items():
            day["rooms"][room] = [e for e in events if e["guid"] != GUID]
    return data


@pytest.fixture
def conf():
    conference = ConferenceFactory(slug="democon", timezone="Europe/Berlin")
    import_schedule(conference, load("pretalx-democon.json"))
    return conference


def _bookmarkers(conference, n=2, *, telegram=False):
    session = Session.objects.get(conference=conference, guid=GUID)
    people = [telegram_user() if telegram else UserFactory() for _ in range(n)]
    for person in people:
        Bookmark.objects.create(user=person, session=session)
    return session, people


def _flush_all():
    return changes.flush_due(now=_later())


def test_a_moved_session_tells_each_bookmarker_once_in_words(conf, django_capture_on_commit_callbacks):
    session, people = _bookmarkers(conf)
    UserFactory()  # bookmarked nothing: hears nothing

    with django_capture_on_commit_callbacks(execute=True):
        counts = import_schedule(conf, _moved(load("pretalx-democon.json")))
    assert counts["updated"] == 1
    assert Notification.objects.count() == 0  # the window has not passed
    assert PendingSessionChange.objects.count() == 1

    assert _flush_all() == 1
    assert _flush_all() == 0

    rows = Notification.objects.order_by("user_id")
    assert [n.user_id for n in rows] == [p.pk for p in people]
    for n in rows:
        assert n.kind == "session_changed"
        assert n.title == f"Changed: {session.title}"
        assert n.body == f"{session.title} moved from 09:00 to 10:30, now in Tan Room."
        assert n.data == {
            "conference": "democon",
            "session": session.pk,
            "changes": {
                "starts_at": ["2020-12-14T08:00:00+00:00", "2020-12-14T09:30:00+00:00"],
                "ends_at": ["2020-12-14T08:30:00+00:00", "2020-12-14T10:00:00+00:00"],
                "room": ["Gray Room", "Tan Room"],
            },
        }
    assert PendingSessionChange.objects.count() == 0


def test_a_burst_of_edits_is_one_message_with_the_net_change(conf, django_capture_on_commit_callbacks):
    session, people = _bookmarkers(conf, 1)
    data = load("pretalx-democon.json")
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, _moved(data, date="2020-12-14T10:00:00+01:00"))
        import_schedule(conf, _moved(data, date="2020-12-14T11:00:00+01:00", room=None))
        import_schedule(conf, _moved(data, date="2020-12-14T11:30:00+01:00", room=None))

    assert _flush_all() == 1
    [n] = Notification.objects.all()
    assert n.body == f"{session.title} moved from 09:00 to 11:30."
    assert set(n.data["changes"]) == {"starts_at", "ends_at"}


def test_a_change_undone_within_the_window_says_nothing(conf, django_capture_on_commit_callbacks):
    _bookmarkers(conf, 2)
    data = load("pretalx-democon.json")
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, _moved(data))
        assert import_schedule(conf, data)["updated"] == 1

    assert _flush_all() == 1  # claimed, and found nothing to say
    assert Notification.objects.count() == 0


def test_an_import_that_changes_nothing_records_nothing(conf, django_capture_on_commit_callbacks):
    _bookmarkers(conf, 2)
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, load("pretalx-democon.json"))
    assert PendingSessionChange.objects.count() == 0
    assert _flush_all() == 0


def test_the_task_does_not_send_before_the_window_passes(conf, settings, django_capture_on_commit_callbacks):
    settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS = 60
    _bookmarkers(conf, 1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_schedule(conf, _moved(load("pretalx-democon.json")))
    assert callbacks  # the delayed task was queued (eagerly run here, before it is due)
    pending = PendingSessionChange.objects.get()
    assert changes.flush(pending.pk) is None
    assert Notification.objects.count() == 0
    assert changes.flush(pending.pk, now=pending.due_at) == 1


def test_a_short_window_sends_from_the_task_itself(conf, settings, django_capture_on_commit_callbacks):
    settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS = 0
    _bookmarkers(conf, 2)
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, _moved(load("pretalx-democon.json")))
    assert Notification.objects.filter(kind="session_changed").count() == 2
    assert PendingSessionChange.objects.count() == 0


def test_a_removed_session_is_cancelled_for_its_bookmarkers(conf, django_capture_on_commit_callbacks):
    session, people = _bookmarkers(conf, 2)
    title = session.title
    with django_capture_on_commit_callbacks(execute=True):
        assert import_schedule(conf, _removed(load("pretalx-democon.json")))["removed"] == 1

    assert _flush_all() == 1
    rows = list(Notification.objects.order_by("user_id").values("user_id", "kind", "title", "data"))
    assert rows == [
        {
            "user_id": p.pk,
            "kind": "session_cancelled",
            "title": f"Cancelled: {title}",
            "data": {"conference": "democon", "session": session.pk},
        }
        for p in people
    ]


def test_api_edit_and_delete_are_schedule_changes(conf, admin_api, django_capture_on_commit_callbacks):
    session, [person] = _bookmarkers(conf, 1)
    url = f"/api/v1/conferences/democon/sessions/{session.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.patch(
            url,
            {"starts_at": "2020-12-14T11:30:00+01:00", "ends_at": "2020-12-14T12:15:00+01:00"},
            format="json",
        )
    assert response.status_code == 200
    _flush_all()
    [changed] = Notification.objects.all()
    assert changed.body == f"{session.title} moved from 09:00 to 11:30, now ends at 12:15."

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_api.delete(url).status_code == 204
    _flush_all()
    assert list(Notification.objects.order_by("id").values_list("kind", "user_id")) == [
        ("session_changed", person.pk),
        ("session_cancelled", person.pk),
    ]


def test_an_edit_of_the_title_alone_tells_nobody(conf, admin_api, django_capture_on_commit_callbacks):
    session, _ = _bookmarkers(conf, 1)
    with django_capture_on_commit_callbacks(execute=True):
        admin_api.patch(f"/api/v1/conferences/democon/sessions/{session.pk}/", {"title": "New"}, format="json")
    assert PendingSessionChange.objects.count() == 0


def test_changes_go_out_on_telegram(conf, fake_telegram, django_capture_on_commit_callbacks):
    session, people = _bookmarkers(conf, 1, telegram=True)
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, _moved(load("pretalx-democon.json")))
    with django_capture_on_commit_callbacks(execute=True):
        _flush_all()
    [text] = fake_telegram.sent_texts(people[0].telegram_chat_id)
    assert "moved from 09:00 to 10:30, now in Tan Room" in text


def test_a_moved_session_is_reminded_again_before_its_new_start(django_capture_on_commit_callbacks, admin_api):
    now = timezone.now()
    conference = ConferenceFactory(slug="soon")
    from conferences.services import create_session

    session = create_session(
        conference, title="Rollups", starts_at=now + timedelta(minutes=10), ends_at=now + timedelta(minutes=40)
    )
    person = UserFactory()
    Bookmark.objects.create(user=person, session=session)
    assert send_session_reminders(now=now) == 1

    with django_capture_on_commit_callbacks(execute=True):
        admin_api.patch(
            f"/api/v1/conferences/soon/sessions/{session.pk}/",
            {"starts_at": (now + timedelta(hours=2)).isoformat(), "ends_at": (now + timedelta(hours=3)).isoformat()},
            format="json",
        )
    changes.flush_due(now=now + timedelta(minutes=2))
    assert send_session_reminders(now=now + timedelta(minutes=3)) == 0  # not yet due again
    assert send_session_reminders(now=now + timedelta(minutes=110)) == 1
    assert list(Notification.objects.order_by("id").values_list("kind", flat=True)) == [
        "session_reminder",
        "session_changed",
        "session_reminder",
    ]


def test_agenda_changed_reaches_the_sockets_of_the_conference_people(
    conf, settings, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": f"t{uuid.uuid4().hex[:8]}"},
        }
    }
    _, [bookmarker] = _bookmarkers(conf, 1)
    attendee = UserFactory()
    Attendance.objects.create(conference=conf, user=attendee)
    stranger = UserFactory()
    layer = get_channel_layer()

    async def join():
        found = {}
        for person in (bookmarker, attendee, stranger):
            channel = await layer.new_channel()
            await layer.group_add(f"user.{person.pk}", channel)
            found[person.pk] = channel
        return found

    sockets = asyncio.run(join())
    with django_capture_on_commit_callbacks(execute=True):
        import_schedule(conf, _moved(load("pretalx-democon.json")))

    async def read():
        got = {}
        for pk, channel in sockets.items():
            try:
                got[pk] = (await asyncio.wait_for(layer.receive(channel), 1))["payload"]
            except TimeoutError:
                got[pk] = None
        return got

    assert asyncio.run(read()) == {
        bookmarker.pk: {"type": "agenda_changed", "conference": "democon"},
        attendee.pk: {"type": "agenda_changed", "conference": "democon"},
        stranger.pk: None,
    }


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_tell_each_bookmarker_once(settings):
    settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS = 60
    conference = ConferenceFactory(slug="race", timezone="Europe/Berlin")
    import_schedule(conference, load("pretalx-democon.json"))
    session, people = _bookmarkers(conference, 3)
    moved = _moved(load("pretalx-democon.json"))
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            import_schedule(conference, moved)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert PendingSessionChange.objects.count() == 1

    flushers = [threading.Thread(target=lambda: (_flush_all(), connection.close())) for _ in range(3)]
    for t in flushers:
        t.start()
    for t in flushers:
        t.join()
    assert sorted(Notification.objects.filter(kind="session_changed").values_list("user_id", flat=True)) == sorted(
        p.pk for p in people
    )


@pytest.mark.django_db(transaction=True)
def test_an_api_edit_racing_an_import_makes_one_pending_change(settings, admin_api):
    settings.SCHEDULE_CHANGE_DEBOUNCE_SECONDS = 60
    conference = ConferenceFactory(slug="race2", timezone="Europe/Berlin")
    import_schedule(conference, load("pretalx-democon.json"))
    session, people = _bookmarkers(conference, 2)
    barrier = threading.Barrier(2)

    def importer():
        barrier.wait()
        import_schedule(conference, _moved(load("pretalx-democon.json")))
        connection.close()

    def editor():
        barrier.wait()
        admin_api.patch(f"/api/v1/conferences/race2/sessions/{session.pk}/", {"title": "Renamed"}, format="json")
        connection.close()

    threads = [threading.Thread(target=importer), threading.Thread(target=editor)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _flush_all()
    assert Notification.objects.filter(kind="session_changed").count() == 2
