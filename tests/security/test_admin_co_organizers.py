"""
Django admin for co-organizers: logged in with Django's test client as a
co-organizer of one conference (not staff), every conference-scoped
ModelAdmin lists only that conference's rows, another conference's row is a
404 by URL, an add naming another conference is refused, and every other
ModelAdmin is hidden. A ModelAdmin registered later that is neither scoped nor
hidden fails ``test_every_model_admin_is_scoped_or_hidden_from_co_organizers``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from broadcasts.models import Broadcast
from conferences.admin_scope import ConferenceScopedAdmin
from conferences.models import Attendance, Bookmark, Conference, ConferenceOrganizer, Room, Session, Speaker, Track
from conferences.organizers import add_organizer
from events.models import Event
from live.models import Feedback, Poll, Question, SessionFeedbackSummary
from meetings.models import Meeting, MeetingWindow
from meetings.services import create_meeting_window, request_meeting
from quests.models import PointsEntry, Quest, QuestCompletion, Reward, RewardClaim, SprintWin, Submission, Task
from tests.factories import (
    AdminUserFactory,
    AttendanceFactory,
    ConferenceFactory,
    EventFactory,
    RoomFactory,
    SessionFactory,
    SpeakerFactory,
    TrackFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _rows_of(conference: Conference) -> dict[type, object]:
    """One row of every conference-scoped ModelAdmin's model, in ``conference``."""
    now = timezone.now()
    owner, other = UserFactory(), UserFactory()
    room = RoomFactory(conference=conference)
    session = SessionFactory(conference=conference, room=room)
    quest = Quest.objects.create(
        title=f"Quest of {conference.slug}",
        conference=conference,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    task = Task.objects.create(quest=quest, title="Proof", type="proof", config={"kind": "text"})
    reward = Reward.objects.create(quest=quest, title="Mug", stock=3)
    AttendanceFactory(conference=conference, user=other)
    attendance = AttendanceFactory(conference=conference, user=owner)
    window = create_meeting_window(
        conference, starts_at=now + timedelta(hours=2), ends_at=now + timedelta(hours=3), tables=["T1"]
    )
    meeting = request_meeting(
        owner, conference=conference, with_user_id=other.pk, starts_at=window.slots.first().starts_at
    )
    return {
        Conference: conference,
        Room: room,
        Track: TrackFactory(conference=conference),
        Session: session,
        Speaker: SpeakerFactory(conference=conference),
        Attendance: attendance,
        Bookmark: Bookmark.objects.create(user=owner, session=session),
        Event: EventFactory(conference=conference, host=owner),
        Question: Question.objects.create(session=session, author=owner, text="Why?"),
        Poll: Poll.objects.create(session=session, question="Which?"),
        Feedback: Feedback.objects.create(session=session, user=owner, rating=4),
        SessionFeedbackSummary: SessionFeedbackSummary.objects.get(pk=session.pk),
        MeetingWindow: window,
        Meeting: meeting,
        Quest: quest,
        Submission: Submission.objects.create(task=task, user=owner, status="pending", text="done"),
        PointsEntry: PointsEntry.objects.create(
            user=owner, points=5, reason="r", source=f"test:{conference.slug}", conference=conference
        ),
        QuestCompletion: QuestCompletion.objects.create(quest=quest, user=owner),
        Reward: reward,
        RewardClaim: RewardClaim.objects.create(reward=reward, user=owner),
        SprintWin: SprintWin.objects.create(conference=conference, day=now.date(), user=owner, rank=1, points=5),
        Broadcast: Broadcast.objects.create(
            title=f"To {conference.slug}",
            audience={"segment": "attendees", "conference": conference.slug},
            channels=["in_app"],
        ),
    }


@pytest.fixture
def scene():
    ours = ConferenceFactory(slug="ours")
    theirs = ConferenceFactory(slug="theirs")
    organizer = UserFactory()
    add_organizer(ours, user=organizer)
    client = Client()
    client.force_login(organizer)
    return {"ours": _rows_of(ours), "theirs": _rows_of(theirs), "client": client, "organizer": organizer}


def _scoped_models() -> list[type]:
    return [
        model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, ConferenceScopedAdmin)
    ]


def _request_of(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _admin_url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_scene_has_a_row_of_every_scoped_model_admin(scene):
    assert set(_scoped_models()) == set(scene["ours"])


def test_each_changelist_shows_only_the_co_organizers_conference(scene):
    shown = {}
    for model in _scoped_models():
        response = scene["client"].get(_admin_url(model, "changelist"))
        assert response.status_code == 200, model
        listed = {row.pk for row in response.context["cl"].result_list}
        shown[model] = (scene["ours"][model].pk in listed, scene["theirs"][model].pk in listed)

    assert shown == {model: (True, False) for model in _scoped_models()}


def test_a_changelist_holds_every_row_of_their_conference_and_nothing_else(scene):
    response = scene["client"].get(_admin_url(Attendance, "changelist"))

    listed = {row.pk for row in response.context["cl"].result_list}
    assert listed == set(Attendance.objects.filter(conference=scene["ours"][Conference]).values_list("pk", flat=True))
    assert len(listed) == 2


def test_each_change_page_opens_for_their_conference_and_is_404_for_another(scene):
    statuses = {}
    for model in _scoped_models():
        mine = scene["client"].get(_admin_url(model, "change", scene["ours"][model].pk))
        other = scene["client"].get(_admin_url(model, "change", scene["theirs"][model].pk))
        deleting_other = scene["client"].get(_admin_url(model, "delete", scene["theirs"][model].pk))
        statuses[model] = (mine.status_code, other.status_code, deleting_other.status_code)

    # Read-only ModelAdmins (ledgers, summaries) answer their delete page with 403 even for their own rows.
    assert statuses == {model: (200, 404, 404) for model in _scoped_models()}


def test_a_post_to_another_conferences_row_changes_nothing(scene):
    room = scene["theirs"][Room]

    response = scene["client"].post(
        _admin_url(Room, "change", room.pk),
        {"conference": room.conference_id, "name": "Taken over", "position": 0, "sessions-TOTAL_FORMS": 0},
    )

    assert response.status_code == 404
    room.refresh_from_db()
    assert room.name != "Taken over"


def _add_forms(scene, rows: dict) -> dict[type, dict]:
    """A valid add form per ModelAdmin a co-organizer may add to, naming the rows in ``rows``."""
    conference = rows[Conference]
    start = timezone.localtime(timezone.now() + timedelta(days=3))
    end = start + timedelta(hours=1)  # may be the next day: the test can run at 23:30
    span = {
        "starts_at_0": start.strftime("%Y-%m-%d"),
        "starts_at_1": start.strftime("%H:%M:%S"),
        "ends_at_0": end.strftime("%Y-%m-%d"),
        "ends_at_1": end.strftime("%H:%M:%S"),
    }
    newcomer = UserFactory()
    return {
        Room: {"conference": conference.pk, "name": "Hall X", "position": 0},
        Track: {"conference": conference.pk, "name": "Track X", "color": "#336699"},
        Speaker: {"conference": conference.pk, "name": "Ada X"},
        Session: {
            "conference": conference.pk,
            "title": "Talk X",
            "guid": "talk-x",
            "type": "talk",
            "language": "en",
            **span,
        },
        Attendance: {
            "conference": conference.pk,
            "user": newcomer.pk,
            "status": "registered",
        },
        Bookmark: {"session": rows[Session].pk, "user": newcomer.pk},
        Event: {"conference": conference.pk, "title": "Party X", **span},
        Quest: {"conference": conference.pk, "title": "Quest X", "bonus_points": 0, "is_active": "on"},
        Reward: {"quest": rows[Quest].pk, "title": "Sticker X", "stock": 5},
        MeetingWindow: {"conference": conference.pk, "slot_minutes": 15, "tables": "T1\nT2", **span},
        Broadcast: {
            "title": "Broadcast X",
            "body": "Hello",
            "segment": "attendees",
            "conference": conference.pk,
            "channel_choices": ["in_app"],
        },
    }


def _with_empty_inlines(client: Client, model: type, data: dict) -> dict:
    """``data`` plus the management form of every inline on the add page (no inline rows)."""
    page = client.get(_admin_url(model, "add"))
    assert page.status_code == 200, model
    management = {}
    for inline in page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        management.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return {**management, **data}


def test_adding_is_offered_exactly_where_a_payload_below_exists(scene):
    addable = {
        model
        for model in _scoped_models()
        if admin.site._registry[model].has_add_permission(_request_of(scene["organizer"]))
    }

    assert addable == set(_add_forms(scene, scene["ours"])) == set(REFUSING_FIELD)


# The field that refuses another conference's row in each add form.
REFUSING_FIELD = {
    Room: "conference",
    Track: "conference",
    Speaker: "conference",
    Session: "conference",
    Attendance: "conference",
    Bookmark: "session",
    Event: "conference",
    Quest: "conference",
    Reward: "quest",
    MeetingWindow: "conference",
    Broadcast: "__all__",  # the audience names its conference by slug
}


def test_an_add_naming_another_conference_is_refused_and_one_naming_theirs_is_saved(scene):
    client = scene["client"]
    outcome = {}
    for conference_key in ("theirs", "ours"):
        for model, data in _add_forms(scene, scene[conference_key]).items():
            before = model._default_manager.count()
            response = client.post(_admin_url(model, "add"), _with_empty_inlines(client, model, data))
            errors = sorted(response.context["adminform"].form.errors) if response.status_code == 200 else []
            outcome[(model, conference_key)] = (response.status_code, model._default_manager.count() - before, errors)

    refused = {(model, "theirs"): (200, 0, [field]) for model, field in REFUSING_FIELD.items()}
    saved = {(model, "ours"): (302, 1, []) for model in REFUSING_FIELD}
    assert outcome == {**refused, **saved}


def test_a_co_organizer_may_not_add_or_delete_conferences_nor_name_co_organizers(scene):
    client = scene["client"]
    ours = scene["ours"][Conference]

    add = client.get(_admin_url(Conference, "add"))
    delete = client.get(_admin_url(Conference, "delete", ours.pk))
    change = client.get(_admin_url(Conference, "change", ours.pk))

    assert add.status_code == 403
    assert delete.status_code == 403
    organizers = next(f for f in change.context["inline_admin_formsets"] if f.formset.model is ConferenceOrganizer)
    assert (organizers.has_add_permission, organizers.has_delete_permission) == (False, False)
    assert [row.user_id for row in organizers.formset.queryset] == [scene["organizer"].pk]


def test_every_model_admin_is_scoped_or_hidden_from_co_organizers(scene):
    request = _request_of(scene["organizer"])
    leaks = {
        model
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, ConferenceScopedAdmin)
        and (model_admin.has_module_permission(request) or model_admin.has_view_permission(request))
    }

    assert leaks == set()


def test_global_pages_are_refused_to_a_co_organizer(scene):
    client = scene["client"]

    statuses = {
        url: client.get(url).status_code
        for url in ["/admin/users/user/", "/admin/connections/connection/", "/admin/notifications/notification/"]
    }
    index = client.get("/admin/")

    assert statuses == dict.fromkeys(statuses, 403)
    apps = {app["app_label"] for app in index.context["app_list"]}
    assert apps == {"conferences", "events", "live", "meetings", "quests", "broadcasts"}


def test_custom_admin_pages_of_another_conference_are_404(scene):
    client = scene["client"]
    theirs, ours = scene["theirs"], scene["ours"]
    day = timezone.localdate().isoformat()

    statuses = {
        "import ours": client.get(f"/admin/conferences/conference/{ours[Conference].pk}/import-schedule/").status_code,
        "import theirs": client.get(
            f"/admin/conferences/conference/{theirs[Conference].pk}/import-schedule/"
        ).status_code,
        "occupancy ours": client.get(_admin_url(MeetingWindow, "occupancy", ours[MeetingWindow].pk)).status_code,
        "occupancy theirs": client.get(_admin_url(MeetingWindow, "occupancy", theirs[MeetingWindow].pk)).status_code,
        "csv ours": client.get(f"/admin/meetings/meeting/export/?conference=ours&day={day}").status_code,
        "csv theirs": client.get(f"/admin/meetings/meeting/export/?conference=theirs&day={day}").status_code,
    }

    assert statuses == {
        "import ours": 200,
        "import theirs": 404,
        "occupancy ours": 200,
        "occupancy theirs": 404,
        "csv ours": 200,
        "csv theirs": 404,
    }


def test_a_co_organizer_logs_in_with_a_password_and_a_plain_user_does_not(scene):
    organizer, plain = scene["organizer"], UserFactory()
    for person in (organizer, plain):
        person.email = f"user{person.pk}@example.org"
        person.set_password("a-long-password-1")
        person.save()

    logins = {
        who: Client().post("/admin/login/?next=/admin/", {"username": person.email, "password": "a-long-password-1"})
        for who, person in (("organizer", organizer), ("plain", plain))
    }

    assert logins["organizer"].status_code == 302
    assert logins["organizer"]["Location"] == "/admin/"
    assert logins["plain"].status_code == 200
    assert logins["plain"].context["form"].errors


def test_staff_still_see_every_conference(scene):
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))

    response = client.get(_admin_url(Room, "changelist"))

    assert {row.pk for row in response.context["cl"].result_list} == {
        scene["ours"][Room].pk,
        scene["theirs"][Room].pk,
    }


def test_a_removed_co_organizer_is_refused_at_once(scene):
    ConferenceOrganizer.objects.filter(user=scene["organizer"]).delete()

    response = scene["client"].get(_admin_url(Room, "changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_relation_filters_offer_only_the_co_organizers_values(scene):
    ours = scene["ours"]
    second = SessionFactory(conference=ours[Conference])
    Question.objects.create(session=second, author=UserFactory(), text="How?")

    response = scene["client"].get(_admin_url(Question, "changelist"))

    choices = {
        spec.title: sorted(str(label) for _, label in spec.lookup_choices)
        for spec in response.context["cl"].filter_specs
        if hasattr(spec, "lookup_choices")
    }
    # Two sessions of theirs to choose from; one conference is no choice, so that filter is left out
    # (a staff user sees both conferences there).
    assert choices == {"session": sorted([str(ours[Session]), str(second)])}


def test_a_co_organizer_counts_and_filters_broadcast_audiences_of_their_conference_only(scene):
    client = scene["client"]
    ours, theirs = scene["ours"][Conference], scene["theirs"][Conference]
    url = "/admin/broadcasts/broadcast/audience/"

    own = client.get(url, {"segment": "attendees", "conference": ours.pk})
    other = client.get(url, {"segment": "attendees", "conference": theirs.pk})
    changelist = client.get(_admin_url(Broadcast, "changelist"))

    assert own.status_code == 200
    assert own.json()["total"] == 2
    assert other.status_code == 403
    assert other.json()["code"] == "PERMISSION_DENIED"
    choices = [
        c["display"] for spec in changelist.context["cl"].filter_specs for c in spec.choices(changelist.context["cl"])
    ]
    assert ours.name in choices
    assert theirs.name not in choices
