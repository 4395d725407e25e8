from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from quests.models import Quest, TaskType
from quests.services import create_quest

SECRET_CODE = "Open-Sesame-7731"
QUIZ_ANSWER = "Constantinople-4412"
CHAT_ID = -1009876543210


def make_quest(*, tasks: list[dict] | None = None, **fields) -> Quest:
    """A quest through the service (configs cleaned and hashed as in production)."""
    fields.setdefault("title", "Explore")
    return create_quest(
        tasks=tasks if tasks is not None else [code_task()],
        **fields,
    )


def code_task(points: int = 10, code: str = SECRET_CODE) -> dict:
    return {"title": "Find the code", "type": TaskType.CODE, "points": points, "config": {"code": code}}


def quiz_task(points: int = 5) -> dict:
    return {
        "title": "Old name",
        "type": TaskType.QUIZ,
        "points": points,
        "config": {"question": "What was Istanbul called?", "answers": [QUIZ_ANSWER, "Byzantium-9"]},
    }


def telegram_task(points: int = 15) -> dict:
    return {
        "title": "Join the chat",
        "type": TaskType.TELEGRAM_JOIN,
        "points": points,
        "config": {"chat_id": CHAT_ID, "invite_link": "https://t.me/+ibwchat"},
    }


def submit_url(task) -> str:
    return f"/api/v1/quests/{task.quest_id}/tasks/{task.pk}/submissions/"


@pytest.fixture
def window():
    now = timezone.now()
    return {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(hours=1)}
