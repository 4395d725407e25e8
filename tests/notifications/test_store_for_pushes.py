"""A broadcast batch stores its notifications without model instances; the pushes must say what REST says."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from notifications.serializers import NotificationSerializer
from notifications.services import store_in_app_for_pushes
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_each_push_equals_the_stored_notification_as_rest_shows_it():
    people = [UserFactory() for _ in range(3)]
    title = "Keynote moved — " + "x" * 300  # cut to the column like every notification

    pushes = store_in_app_for_pushes(
        [p.pk for p in people], kind="broadcast", title=title, body="Hall B", data={"broadcast": 7}
    )

    assert Notification.objects.count() == 3
    assert sorted(group for group, _ in pushes) == sorted(f"user.{p.pk}" for p in people)
    for group, message in pushes:
        shown = message["payload"]["notification"]
        stored = Notification.objects.get(pk=shown["id"])
        assert group == f"user.{stored.user_id}"
        assert message["payload"]["type"] == "notification"
        assert shown == dict(NotificationSerializer(stored).data)
        assert len(shown["title"]) == 200


def test_an_unknown_kind_is_refused_and_nothing_is_stored():
    with pytest.raises(ValueError):
        store_in_app_for_pushes([UserFactory().pk], kind="gossip", title="x")

    assert Notification.objects.count() == 0
