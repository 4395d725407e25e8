"""Django admin: creating a broadcast goes through the service; the change page shows progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from broadcasts.models import Broadcast
from tests.factories import AdminUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def test_admin_add_schedules_through_the_service(admin_client_):
    send_at = timezone.now() + timedelta(hours=2)

    response = admin_client_.post(
        "/admin/broadcasts/broadcast/add/",
        {
            "title": "Lunch",
            "body": "Served in the atrium",
            "segment": "all",
            "channel_choices": ["in_app"],
            "send_at_0": send_at.strftime("%Y-%m-%d"),
            "send_at_1": send_at.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302
    broadcast = Broadcast.objects.get()
    assert (broadcast.title, broadcast.status, broadcast.audience, broadcast.channels) == (
        "Lunch",
        "scheduled",
        {"segment": "all"},
        ["in_app"],
    )


def test_admin_change_page_shows_the_progress_bar(admin_client_):
    UserFactory()
    broadcast = Broadcast.objects.create(
        title="Doors", audience={"segment": "all"}, channels=["in_app"], status="sending", total=4, sent=2, failed=1
    )

    response = admin_client_.get(f"/admin/broadcasts/broadcast/{broadcast.pk}/change/")

    assert response.status_code == 200
    assert "75% &middot; 2 sent, 1 failed of 4 (Sending)" in response.content.decode()
