"""Linking, listing and unlinking chats over the API, with python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import pytest

from chats.models import ChatLink, InviteLink
from conferences.organizers import add_organizer
from events.models import RSVP, RSVPStatus
from tests.chats.conftest import bot_user, linked_chat, new_chat_id
from tests.conftest import client_for
from tests.factories import AttendanceFactory, ConferenceFactory, EventFactory, UserFactory
from tests.fakes.telegram import BOT_ID

pytestmark = pytest.mark.django_db


def _url(conference) -> str:
    return f"/api/v1/conferences/{conference.slug}/chats/"


# --- linking -----------------------------------------------------------------------------


def test_co_organizer_links_a_group_after_telegram_confirms_the_bot_is_admin(fake_telegram, conference, organizer):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, title="PyCon Nowhere community")

    response = client_for(organizer).post(_url(conference), {"chat_id": chat_id, "purpose": "community"}, format="json")

    link = ChatLink.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": link.pk,
        "chat_id": chat_id,
        "title": "PyCon Nowhere community",
        "type": "supergroup",
        "purpose": "community",
        "status": "active",
    }
    assert [int(c.params["chat_id"]) for c in fake_telegram.calls_of("getChat")] == [chat_id]
    [member_call] = fake_telegram.calls_of("getChatMember")
    assert int(member_call.params["user_id"]) == BOT_ID
    assert link.conference == conference and link.linked_by == organizer


def test_linking_the_same_chat_again_answers_200_with_the_same_link(fake_telegram, conference, admin_api):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, type="channel", title="News")

    first = admin_api.post(_url(conference), {"chat_id": chat_id, "purpose": "community"}, format="json")
    again = admin_api.post(_url(conference), {"chat_id": chat_id, "purpose": "announcements"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["purpose"] == "announcements"
    assert ChatLink.objects.count() == 1


def test_someone_who_does_not_organize_the_conference_gets_403(fake_telegram, conference):
    other = ConferenceFactory()
    stranger = UserFactory()
    add_organizer(other, user=stranger)
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id)

    response = client_for(stranger).post(_url(conference), {"chat_id": chat_id, "purpose": "community"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"
    assert not ChatLink.objects.exists()
    assert fake_telegram.calls_of("getChat") == []


@pytest.mark.parametrize(
    ("bot", "chat_type", "purpose", "missing", "sentence"),
    [
        ("member", "supergroup", "community", ["administrator"], "The bot must be an administrator in this chat."),
        ("left", "supergroup", "community", ["administrator"], "The bot must be an administrator in this chat."),
        (
            "no_invite",
            "supergroup",
            "community",
            ["can_invite_users"],
            "The bot must invite users (can_invite_users) in this chat.",
        ),
        (
            "no_post",
            "channel",
            "announcements",
            ["can_post_messages"],
            "The bot must post messages (can_post_messages) in this chat.",
        ),
    ],
)
def test_bot_without_the_rights_the_purpose_needs_is_409_naming_them(
    fake_telegram, conference, admin_api, bot, chat_type, purpose, missing, sentence
):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, type=chat_type, bot=bot)

    response = admin_api.post(_url(conference), {"chat_id": chat_id, "purpose": purpose}, format="json")

    assert response.status_code == 409
    assert response.json() == {"error": sentence, "code": "BOT_NOT_ADMIN", "details": {"missing": missing}}
    assert not ChatLink.objects.exists()


def test_a_channel_where_the_bot_may_not_post_can_still_be_a_community_chat(fake_telegram, conference, admin_api):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, type="channel", bot="no_post")

    response = admin_api.post(_url(conference), {"chat_id": chat_id, "purpose": "community"}, format="json")

    assert response.status_code == 201


def test_a_chat_telegram_does_not_know_is_400_and_nothing_is_stored(fake_telegram, conference, admin_api):
    response = admin_api.post(_url(conference), {"chat_id": -100999, "purpose": "community"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["error"] == "Telegram does not know this chat, or the bot is not in it."
    assert not ChatLink.objects.exists()


def test_a_private_chat_with_a_person_is_400(fake_telegram, conference, admin_api):
    person = bot_user()
    fake_telegram.add_chat(person.telegram_chat_id, type="private", title="Ada")

    by_id = admin_api.post(
        _url(conference), {"chat_id": person.telegram_chat_id, "purpose": "community"}, format="json"
    )
    fake_telegram.add_chat(-4242, type="private", title="Odd")  # Telegram says private whatever the id
    by_type = admin_api.post(_url(conference), {"chat_id": -4242, "purpose": "community"}, format="json")

    assert (by_id.status_code, by_id.json()["code"]) == (400, "VALIDATION_ERROR")
    assert by_type.status_code == 400
    assert by_type.json()["error"] == "This is a private chat with a person: link a group or channel."
    assert not ChatLink.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"chat_id": "not-a-number", "purpose": "community"},
        {"chat_id": 1.5, "purpose": "community"},
        {"chat_id": True, "purpose": "community"},
        {"chat_id": [-1001], "purpose": "community"},
        {"chat_id": -1001, "purpose": "gossip"},
        {"purpose": "community"},
        {"chat_id": 0, "purpose": "community"},  # no chat has id 0: refused before asking Telegram
    ],
)
def test_a_chat_id_or_purpose_of_the_wrong_type_is_400(fake_telegram, conference, admin_api, body):
    response = admin_api.post(_url(conference), body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not ChatLink.objects.exists()
    assert fake_telegram.calls == []


def test_a_chat_linked_to_another_conference_or_event_is_409(fake_telegram, conference, admin_api):
    elsewhere = linked_chat(fake_telegram, ConferenceFactory())
    at_event = linked_chat(fake_telegram, EventFactory())

    one = admin_api.post(_url(conference), {"chat_id": elsewhere.chat_id, "purpose": "community"}, format="json")
    two = admin_api.post(_url(conference), {"chat_id": at_event.chat_id, "purpose": "community"}, format="json")

    for response in (one, two):
        assert response.status_code == 409
        assert response.json()["code"] == "CHAT_LINKED_ELSEWHERE"
    assert ChatLink.objects.filter(conference=conference).count() == 0


def test_telegram_down_while_linking_is_503_and_nothing_is_stored(fake_telegram, conference, admin_api):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id)
    fake_telegram.fail("getChat", 502)

    response = admin_api.post(_url(conference), {"chat_id": chat_id, "purpose": "community"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert not ChatLink.objects.exists()


# --- listing -----------------------------------------------------------------------------


def test_a_registered_person_gets_their_own_invite_link_made_once(fake_telegram, conference, attendee):
    attendee.display_name = "Augusta Ada King, Countess of Lovelace"
    attendee.save()
    link = linked_chat(fake_telegram, conference)
    api = client_for(attendee)

    first = api.get(_url(conference))
    second = api.get(_url(conference))

    [made] = fake_telegram.calls_of("createChatInviteLink")
    invite = fake_telegram.calls_of("createChatInviteLink")[0]
    assert first.status_code == 200
    assert first.json() == {
        "results": [
            {
                "id": link.pk,
                "chat_id": link.chat_id,
                "title": "PyCon group",
                "type": "supergroup",
                "purpose": "community",
                "status": "active",
                "invite_link": "https://t.me/+fake000001",
            }
        ]
    }
    assert second.json() == first.json()
    assert made.params["name"] == "Augusta Ada King, Countess of Lov"[:32]
    assert len(made.params["name"]) == 32
    assert invite.params["creates_join_request"] in (True, "true", "True")
    assert int(invite.params["chat_id"]) == link.chat_id


def test_co_organizers_and_admins_see_the_chats_without_an_invite_link(fake_telegram, conference, organizer, admin_api):
    linked_chat(fake_telegram, conference)

    as_organizer = client_for(organizer).get(_url(conference))
    as_admin = admin_api.get(_url(conference))

    assert as_organizer.status_code == 200
    assert [c["invite_link"] for c in as_organizer.json()["results"]] == [None]
    assert [c["invite_link"] for c in as_admin.json()["results"]] == [None]
    assert fake_telegram.calls_of("createChatInviteLink") == []


def test_someone_not_registered_gets_403_not_registered(fake_telegram, conference, api):
    linked_chat(fake_telegram, conference)

    response = client_for(UserFactory()).get(_url(conference))
    anonymous = api.get(_url(conference))

    assert response.status_code == 403
    assert response.json() == {"error": "Register for this conference to see its chats.", "code": "NOT_REGISTERED"}
    assert anonymous.status_code == 401


def test_an_inactive_chat_is_listed_without_an_invite_link(fake_telegram, conference, attendee):
    link = linked_chat(fake_telegram, conference)
    link.status = "inactive"
    link.save()

    response = client_for(attendee).get(_url(conference))

    assert [(c["status"], c["invite_link"]) for c in response.json()["results"]] == [("inactive", None)]
    assert fake_telegram.calls_of("createChatInviteLink") == []


@pytest.mark.parametrize("chats", [1, 5])
def test_the_list_takes_a_constant_number_of_queries(
    fake_telegram, conference, attendee, chats, django_assert_max_num_queries
):
    for _ in range(chats):
        linked_chat(fake_telegram, conference)
    api = client_for(attendee)
    api.get(_url(conference))  # the invite links are made on the first call

    with django_assert_max_num_queries(6):
        response = api.get(_url(conference))

    assert len(response.json()["results"]) == chats
    assert all(c["invite_link"] for c in response.json()["results"])


# --- unlinking ---------------------------------------------------------------------------


def test_deleting_a_chat_revokes_every_invite_link_and_issues_no_more(fake_telegram, conference, organizer):
    link = linked_chat(fake_telegram, conference)
    people = [bot_user() for _ in range(2)]
    for person in people:
        AttendanceFactory(conference=conference, user=person)
        client_for(person).get(_url(conference))
    given = set(InviteLink.objects.values_list("invite_link", flat=True))

    response = client_for(organizer).delete(f"{_url(conference)}{link.pk}/")

    assert response.status_code == 204
    revoked = {c.params["invite_link"] for c in fake_telegram.calls_of("revokeChatInviteLink")}
    assert revoked == given and len(given) == 2
    assert all(fake_telegram.invite_links[url]["is_revoked"] for url in given)
    assert not ChatLink.objects.exists()
    assert client_for(people[0]).get(_url(conference)).json() == {"results": []}
    assert len(fake_telegram.calls_of("createChatInviteLink")) == 2


def test_deleting_when_telegram_is_down_is_503_and_a_retry_finishes(fake_telegram, conference, organizer):
    link = linked_chat(fake_telegram, conference)
    person = bot_user()
    AttendanceFactory(conference=conference, user=person)
    client_for(person).get(_url(conference))
    fake_telegram.fail("revokeChatInviteLink", 502)
    api = client_for(organizer)

    failed = api.delete(f"{_url(conference)}{link.pk}/")
    retried = api.delete(f"{_url(conference)}{link.pk}/")

    assert failed.status_code == 503
    assert retried.status_code == 204
    assert not ChatLink.objects.exists()


def test_deleting_another_conferences_chat_is_404(fake_telegram, conference, organizer):
    other = linked_chat(fake_telegram, ConferenceFactory())

    response = client_for(organizer).delete(f"{_url(conference)}{other.pk}/")

    assert response.status_code == 404
    assert ChatLink.objects.filter(pk=other.pk).exists()


# --- side events -------------------------------------------------------------------------


@pytest.fixture
def host():
    return UserFactory(roles=["organizer"])


@pytest.fixture
def event(host):
    return EventFactory(host=host, capacity=1)


def test_an_events_host_links_its_chat_and_others_may_not(fake_telegram, event, host):
    chat_id = new_chat_id()
    fake_telegram.add_chat(chat_id, title="Rooftop")
    url = f"/api/v1/events/{event.pk}/chats/"

    other = client_for(UserFactory(roles=["organizer"])).post(url, {"chat_id": chat_id, "purpose": "community"})
    mine = client_for(host).post(url, {"chat_id": chat_id, "purpose": "community"}, format="json")

    assert other.status_code == 403
    assert other.json()["code"] == "PERMISSION_DENIED"
    assert mine.status_code == 201
    assert ChatLink.objects.get().event == event


def test_event_chats_going_get_a_link_waitlisted_see_none_others_are_refused(fake_telegram, event):
    link = linked_chat(fake_telegram, event)
    going, waiting = bot_user(), bot_user()
    RSVP.objects.create(event=event, user=going, status=RSVPStatus.GOING)
    RSVP.objects.create(event=event, user=waiting, status=RSVPStatus.WAITLISTED)
    url = f"/api/v1/events/{event.pk}/chats/"

    as_going = client_for(going).get(url)
    as_waiting = client_for(waiting).get(url)
    as_stranger = client_for(UserFactory()).get(url)

    assert [(c["id"], bool(c["invite_link"])) for c in as_going.json()["results"]] == [(link.pk, True)]
    assert [(c["id"], c["invite_link"]) for c in as_waiting.json()["results"]] == [(link.pk, None)]
    assert as_stranger.status_code == 403
    assert as_stranger.json()["code"] == "NOT_REGISTERED"
    assert len(fake_telegram.calls_of("createChatInviteLink")) == 1


def test_an_events_host_deletes_its_chat(fake_telegram, event, host):
    link = linked_chat(fake_telegram, event)

    response = client_for(host).delete(f"/api/v1/events/{event.pk}/chats/{link.pk}/")

    assert response.status_code == 204
    assert not ChatLink.objects.exists()


# --- Django admin ------------------------------------------------------------------------


def test_admin_links_a_chat_after_the_same_checks(fake_telegram, conference, client):
    staff = UserFactory(is_staff=True, is_superuser=True, email="root@example.org")
    client.force_login(staff)
    good, bad = new_chat_id(), new_chat_id()
    fake_telegram.add_chat(good, title="Announcements", type="channel")
    fake_telegram.add_chat(bad, bot="member")

    ok = client.post(
        "/admin/chats/chatlink/add/", {"conference": conference.pk, "chat_id": good, "purpose": "announcements"}
    )
    refused = client.post(
        "/admin/chats/chatlink/add/", {"conference": conference.pk, "chat_id": bad, "purpose": "community"}
    )

    assert ok.status_code == 302
    assert ChatLink.objects.get().chat_id == good
    assert ChatLink.objects.get().title == "Announcements"
    assert refused.status_code == 200
    assert "The bot must be an administrator in this chat." in refused.content.decode()
    assert ChatLink.objects.count() == 1


def test_admin_unlink_action_revokes_the_invite_links(fake_telegram, conference, attendee, client):
    staff = UserFactory(is_staff=True, is_superuser=True, email="root2@example.org")
    client.force_login(staff)
    link = linked_chat(fake_telegram, conference)
    client_for(attendee).get(_url(conference))

    response = client.post("/admin/chats/chatlink/", {"action": "unlink", "_selected_action": [link.pk]}, follow=True)

    assert response.status_code == 200
    assert not ChatLink.objects.exists()
    assert len(fake_telegram.calls_of("revokeChatInviteLink")) == 1
