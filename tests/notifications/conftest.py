from __future__ import annotations

import itertools

import pytest

from integrations import ratelimit
from tests.factories import UserFactory

_chat_ids = itertools.count(900_001)


@pytest.fixture(autouse=True)
def _fresh_rate_limiter(settings):
    """Each test starts with a full bucket and no 429 pause, and a rate that does not slow it down."""
    settings.TELEGRAM_RATE_LIMIT = 1000
    ratelimit.reset()
    yield
    ratelimit.reset()


def telegram_user(**fields):
    """A user who started the bot: Telegram messages reach chat ``telegram_chat_id``."""
    fields.setdefault("telegram_chat_id", next(_chat_ids))
    return UserFactory(**fields)


@pytest.fixture
def tg_user(db):
    return telegram_user()
