from __future__ import annotations

import itertools

import pytest

from chats.models import ChatLink
from conferences.organizers import add_organizer
from integrations import ratelimit
from tests.factories import AttendanceFactory, ConferenceFactory, UserFactory

_chat_ids = itertools.count(-1_001_000_000_001, -1)
_person_chats = itertools.count(800_001)


@pytest.fixture(autouse=True)
def _fresh_rate_limiter(settings):
    """A full bucket and no 429 pause for each test, at a rate that does not slow it down."""
    settings.TELEGRAM_RATE_LIMIT = 1000
    ratelimit.reset()
    yield
    ratelimit.reset()


def new_chat_id() -> int:
    return next(_chat_ids)


def bot_user(**fields):
    """A person who started the bot: its messages reach their private chat."""
    fields.setdefault("telegram_chat_id", next(_person_chats))
    return UserFactory(**fields)


@pytest.fixture
def conference(db):
    return ConferenceFactory(name="PyCon Nowhere")


@pytest.fixture
def organizer(conference):
    person = UserFactory()
    add_organizer(conference, user=person)
    return person


@pytest.fixture
def attendee(conference):
    person = bot_user(display_name="Ada Lovelace")
    AttendanceFactory(conference=conference, user=person)
    return person


def linked_chat(fake_telegram, owner, *, purpose="community", title="PyCon group", type="supergroup") -> ChatLink:
    """A chat Telegram knows with the bot as administrator, linked to ``owner`` (a conference or event)."""
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, title=title, type=type)
    field = "conference" if owner.__class__.__name__ == "Conference" else "event"
    return ChatLink.objects.create(chat_id=chat_id, title=title, type=type, purpose=purpose, **{field: owner})
