"""Accepted meetings in the personal calendar feed and in the bot's /next."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from bot.handlers import HELP, NOT_LINKED
from meetings.services import accept_meeting, cancel_meeting, request_meeting
from tests.connections.factories import BookmarkFactory
from tests.factories import ConferenceFactory, RoomFactory, SessionFactory
from tests.meetings.helpers import attendee, make_window, next_hour
from tests.telegram import message_update

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def conference():
    return ConferenceFactory(slug="devcon", timezone="Europe/Berlin", venue="Expo Hall")


def _feed(api, user) -> dict[str, icalendar.Event]:
    response = api.get(f"/api/v1/calendar/{user.calendar_token}.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return {str(e["uid"]): e for e in icalendar.Calendar.from_ical(response.content).walk("VEVENT")}


def test_accepted_meetings_are_in_both_peoples_feeds(api, conference):
    window = make_window(conference, slots=3)
    slots = list(window.slots.order_by("starts_at"))
    ann = attendee(conference, first_name="Ann", last_name="Ames")
    ben = attendee(conference, first_name="Ben", last_name="Birch")
    accepted = request_meeting(
        ann, conference=conference, with_user_id=ben.pk, starts_at=slots[0].starts_at, message="Coffee"
    )
    accept_meeting(ben, meeting_id=accepted.pk)
    request_meeting(ann, conference=conference, with_user_id=ben.pk, starts_at=slots[1].starts_at)  # pending
    cancelled = request_meeting(ben, conference=conference, with_user_id=ann.pk, starts_at=slots[2].starts_at)
    accept_meeting(ann, meeting_id=cancelled.pk)
    cancel_meeting(ben, meeting_id=cancelled.pk)

    mine, theirs = _feed(api, ann), _feed(api, ben)

    uid = f"meeting-{accepted.pk}@testserver"
    assert list(mine) == [uid]
    assert list(theirs) == [uid]
    assert str(mine[uid]["summary"]) == "Meeting: Ben Birch"
    assert str(theirs[uid]["summary"]) == "Meeting: Ann Ames"
    assert str(mine[uid]["location"]) == "Table T1, Expo Hall"
    assert str(mine[uid]["description"]) == "Coffee"
    assert mine[uid].decoded("dtstart") == slots[0].starts_at
    assert mine[uid].decoded("dtend") == slots[0].ends_at


def test_feed_keeps_sessions_and_events_beside_meetings(api, conference):
    window = make_window(conference)
    ann, ben = attendee(conference), attendee(conference)
    meeting = accept_meeting(
        ben,
        meeting_id=request_meeting(
            ann, conference=conference, with_user_id=ben.pk, starts_at=window.slots.first().starts_at
        ).pk,
    )
    session = SessionFactory(conference=conference, guid="talk-1", starts_at=meeting.starts_at + timedelta(hours=1))
    BookmarkFactory(user=ann, session=session)

    assert list(_feed(api, ann)) == [f"meeting-{meeting.pk}@testserver", "talk-1@testserver"]


# --- /next ----------------------------------------------------------------------------


def _linked(conference, telegram_id, **fields):
    return attendee(conference, telegram_id=telegram_id, telegram_chat_id=telegram_id, **fields)


def _hhmm(moment) -> str:
    return f"{moment.astimezone(BERLIN):%a %H:%M}"


def test_next_names_the_meeting_and_its_table_when_it_comes_first(send_update, fake_telegram, conference):
    window = make_window(conference, starts_at=next_hour(2))
    me = _linked(conference, 7101)
    other = attendee(conference, first_name="Zoë", last_name="<Z>")
    meeting = accept_meeting(
        me,
        meeting_id=request_meeting(
            other, conference=conference, with_user_id=me.pk, starts_at=window.slots.first().starts_at
        ).pk,
    )
    BookmarkFactory(
        user=me, session=SessionFactory(conference=conference, starts_at=meeting.starts_at + timedelta(hours=1))
    )

    send_update(message_update("/next", telegram_id=7101))

    assert fake_telegram.sent_texts(7101) == [
        f"Next: meeting with <b>Zoë &lt;Z&gt;</b> at table <b>T1</b>, "
        f"{_hhmm(meeting.starts_at)}–{meeting.ends_at.astimezone(BERLIN):%H:%M}"
    ]


def test_next_names_the_session_when_it_comes_first(send_update, fake_telegram, conference):
    window = make_window(conference, starts_at=next_hour(3))
    me = _linked(conference, 7102)
    other = attendee(conference)
    accept_meeting(
        other,
        meeting_id=request_meeting(
            me, conference=conference, with_user_id=other.pk, starts_at=window.slots.first().starts_at
        ).pk,
    )
    starts = next_hour(1)
    session = SessionFactory(
        conference=conference,
        title="Proofs",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
        room=RoomFactory(conference=conference, name="Hall A"),
    )
    BookmarkFactory(user=me, session=session)

    send_update(message_update("/next", telegram_id=7102))

    assert fake_telegram.sent_texts(7102) == [
        f"Next: <b>Proofs</b>, {_hhmm(starts)}–{session.ends_at.astimezone(BERLIN):%H:%M} · Hall A"
    ]


def test_next_with_nothing_ahead_and_for_strangers(send_update, fake_telegram, conference):
    me = _linked(conference, 7103)
    window = make_window(conference, starts_at=next_hour(3))
    pending_with = attendee(conference)
    request_meeting(me, conference=conference, with_user_id=pending_with.pk, starts_at=window.slots.first().starts_at)

    send_update(message_update("/next", telegram_id=7103))
    send_update(message_update("/next", telegram_id=7104))

    assert fake_telegram.sent_texts(7103) == ["Nothing ahead: no bookmarked session or meeting is coming up."]
    assert fake_telegram.sent_texts(7104) == [NOT_LINKED]
    assert "/next" in HELP
