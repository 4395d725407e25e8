"""``my_chat_member`` in a linked chat: the bot removed or demoted makes the link inactive and tells the organizers."""

from __future__ import annotations

import pytest

from chats.models import ChatStatus
from notifications.models import Notification
from tests.chats.conftest import linked_chat
from tests.factories import AdminUserFactory, EventFactory, UserFactory
from tests.fakes.telegram import bot_member
from tests.telegram import my_chat_member_update

pytestmark = pytest.mark.django_db


def test_bot_removed_makes_the_link_inactive_and_tells_organizers_and_staff_once(
    fake_telegram, send_update, conference, organizer
):
    staff = AdminUserFactory()
    UserFactory()  # neither: hears nothing
    link = linked_chat(fake_telegram, conference, title="PyCon group")
    update = my_chat_member_update(link.chat_id, new=bot_member("left"))

    send_update(update)
    send_update(my_chat_member_update(link.chat_id, new=bot_member("kicked"), old_status="left"))

    link.refresh_from_db()
    assert link.status == ChatStatus.INACTIVE
    notes = Notification.objects.order_by("user_id")
    assert [(n.user, n.kind) for n in notes] == sorted(
        [(organizer, "chat_unlinked"), (staff, "chat_unlinked")], key=lambda pair: pair[0].pk
    )
    assert notes[0].data == {"chat": link.pk, "conference": conference.slug}
    assert notes[0].title == "Telegram chat unlinked: PyCon group"
    assert "was removed from PyCon group (PyCon Nowhere)" in notes[0].body


def test_bot_losing_the_invite_right_makes_the_link_inactive(fake_telegram, send_update, conference, organizer):
    link = linked_chat(fake_telegram, conference)

    send_update(my_chat_member_update(link.chat_id, new=bot_member("no_invite")))

    link.refresh_from_db()
    assert link.status == ChatStatus.INACTIVE
    [note] = Notification.objects.filter(user=organizer)
    assert "missing: can_invite_users" in note.body


def test_an_announcements_channel_losing_the_post_right_goes_inactive_a_community_one_does_not(
    fake_telegram, send_update, conference
):
    news = linked_chat(fake_telegram, conference, purpose="announcements", type="channel")
    chat = linked_chat(fake_telegram, conference, purpose="community", type="channel")

    send_update(my_chat_member_update(news.chat_id, new=bot_member("no_post", channel=True), chat_type="channel"))
    send_update(my_chat_member_update(chat.chat_id, new=bot_member("no_post", channel=True), chat_type="channel"))

    news.refresh_from_db()
    chat.refresh_from_db()
    assert (news.status, chat.status) == (ChatStatus.INACTIVE, ChatStatus.ACTIVE)


def test_an_event_chat_tells_its_host_and_staff(fake_telegram, send_update):
    host, staff = UserFactory(roles=["organizer"]), AdminUserFactory()
    event = EventFactory(host=host)
    link = linked_chat(fake_telegram, event)

    send_update(my_chat_member_update(link.chat_id, new=bot_member("left")))

    assert sorted(Notification.objects.values_list("user_id", flat=True)) == sorted([host.pk, staff.pk])
    assert Notification.objects.filter(user=host).get().data == {"chat": link.pk, "event": event.pk}


def test_the_bot_made_admin_again_changes_nothing_until_the_chat_is_linked_again(
    fake_telegram, send_update, conference, admin_api
):
    link = linked_chat(fake_telegram, conference)
    send_update(my_chat_member_update(link.chat_id, new=bot_member("left")))

    send_update(my_chat_member_update(link.chat_id, new=bot_member("admin"), old_status="left"))
    link.refresh_from_db()
    assert link.status == ChatStatus.INACTIVE

    relinked = admin_api.post(
        f"/api/v1/conferences/{conference.slug}/chats/", {"chat_id": link.chat_id, "purpose": "community"}
    )
    assert (relinked.status_code, relinked.json()["status"]) == (200, "active")


def test_a_private_chat_block_still_marks_the_person_unreachable(fake_telegram, send_update):
    person = UserFactory(telegram_chat_id=5151)

    send_update(my_chat_member_update(5151, new=bot_member("kicked"), chat_type="private"))

    person.refresh_from_db()
    assert person.telegram_blocked_at is not None
    assert not Notification.objects.exists()
