"""Prerequisite cycles between quests are refused, in the admin form and in the service."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from quests.models import Quest
from quests.services import save_quest
from tests.factories import AdminUserFactory
from tests.quests.conftest import make_quest

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


@pytest.fixture
def chain():
    """A ← B ← C: C needs B, B needs A."""
    a = make_quest(title="Alpha")
    b = make_quest(title="Bravo", prerequisite=a)
    c = make_quest(title="Charlie", prerequisite=b)
    return a, b, c


def _form(quest: Quest, prerequisite: Quest | None) -> dict:
    data = {
        "title": quest.title,
        "description": "",
        "conference": "",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "bonus_points": "0",
        "is_active": "on",
        "prerequisite": str(prerequisite.pk) if prerequisite else "",
    }
    data.update({"tasks-TOTAL_FORMS": "0", "tasks-INITIAL_FORMS": "0"})
    return data


def test_admin_refuses_a_prerequisite_that_closes_a_cycle(admin_client, chain):
    a, _, c = chain
    a.tasks.all().delete()  # the inline formset is not what this test is about

    response = admin_client.post(f"/admin/quests/quest/{a.pk}/change/", _form(a, c))

    assert response.status_code == 200  # the form again, with its error
    assert "This prerequisite makes a cycle: Alpha → Charlie → Bravo → Alpha." in response.content.decode()
    a.refresh_from_db()
    assert a.prerequisite_id is None


def test_admin_refuses_a_quest_as_its_own_prerequisite(admin_client, chain):
    a, _, _ = chain
    a.tasks.all().delete()

    response = admin_client.post(f"/admin/quests/quest/{a.pk}/change/", _form(a, a))

    assert "This prerequisite makes a cycle: Alpha → Alpha." in response.content.decode()
    a.refresh_from_db()
    assert a.prerequisite_id is None


def test_admin_accepts_a_prerequisite_without_a_cycle(admin_client, chain):
    a, _, c = chain
    d = make_quest(title="Delta")
    d.tasks.all().delete()

    response = admin_client.post(f"/admin/quests/quest/{d.pk}/change/", _form(d, c))

    assert response.status_code == 302
    d.refresh_from_db()
    assert d.prerequisite_id == c.pk


def test_save_quest_refuses_a_cycle(chain):
    a, b, c = chain
    a.prerequisite = c

    with pytest.raises(ValidationError) as error:
        save_quest(a)

    assert error.value.messages == [
        "This prerequisite makes a cycle: Alpha → Charlie → Bravo → Alpha. Nobody could ever start these quests."
    ]
    assert Quest.objects.get(pk=a.pk).prerequisite_id is None
