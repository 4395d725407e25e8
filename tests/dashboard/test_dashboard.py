"""
The conference dashboard in Django admin: its figures on a known dataset,
a bounded number of queries whatever the size, and who may open it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from broadcasts.models import Broadcast, Delivery
from conferences.models import Attendance
from dashboard.selectors import conference_dashboard, hourly_series
from quests.models import Quest, QuestCompletion, Submission, Task
from tests.factories import AdminUserFactory, AttendanceFactory, ConferenceFactory, EventFactory, UserFactory

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return MONDAY + timedelta(hours=hours)


def _attend(conference, *, registered: datetime, checked_in: datetime | None = None, **user) -> Attendance:
    attendance = AttendanceFactory(conference=conference, user=UserFactory(**user))
    Attendance.objects.filter(pk=attendance.pk).update(
        registered_at=registered, checked_in_at=checked_in, status="checked_in" if checked_in else "registered"
    )
    return attendance


def _quest(conference, *, tasks: int, title: str = "Explorer") -> tuple[Quest, list[Task]]:
    quest = Quest.objects.create(title=title, conference=conference)
    return quest, [Task.objects.create(quest=quest, title=f"T{n}", type="code", order=n) for n in range(tasks)]


def _broadcast(conference, rows: list[tuple]) -> Broadcast:
    broadcast = Broadcast.objects.create(
        title=f"To {conference.slug}",
        audience={"segment": "attendees", "conference": conference.slug},
        channels=["in_app", "telegram"],
        status="sending",
    )
    Delivery.objects.bulk_create(
        Delivery(broadcast=broadcast, user=user, channel=channel, state=state, error=error)
        for user, channel, state, error in rows
    )
    return broadcast


@pytest.fixture
def known():
    """DemoCon (Berlin, UTC+1) and, to be left out of every figure, another conference with its own rows."""
    conference = ConferenceFactory(slug="democon", name="DemoCon", timezone="Europe/Berlin")
    other = ConferenceFactory(slug="othercon")
    ana = _attend(conference, registered=_at(8.2), checked_in=_at(24 + 8.1), telegram_chat_id=1001).user
    ben = _attend(
        conference, registered=_at(8.8), checked_in=_at(24 + 8.7), telegram_chat_id=1002, notify_telegram=False
    ).user
    cai = _attend(conference, registered=_at(10.5), telegram_chat_id=1003, telegram_blocked_at=_at(9)).user
    _attend(conference, registered=_at(11), is_active=True)  # never started the bot
    _attend(other, registered=_at(9), checked_in=_at(9.5), telegram_chat_id=2001)

    EventFactory(conference=conference, title="Boat party", capacity=10, going_count=10, waitlist_count=3)
    EventFactory(conference=conference, title="Picnic", capacity=None, going_count=4, waitlist_count=0)
    EventFactory(conference=other, title="Elsewhere", capacity=5, going_count=5, waitlist_count=9)

    quest, (t1, t2, t3) = _quest(conference, tasks=3)
    for task in (t1, t2, t3):
        Submission.objects.create(task=task, user=ana, status="approved")
    QuestCompletion.objects.create(quest=quest, user=ana)
    Submission.objects.create(task=t1, user=ben, status="approved")
    Submission.objects.create(task=t2, user=ben, status="pending")
    Submission.objects.create(task=t1, user=cai, status="rejected")
    other_quest, (o1,) = _quest(other, tasks=1, title="Elsewhere")
    Submission.objects.create(task=o1, user=ana, status="approved")

    _broadcast(
        conference,
        [
            (ana, "in_app", "sent", ""),
            (ana, "telegram", "sent", ""),
            (ben, "in_app", "sent", ""),
            (ben, "telegram", "failed", "Gave up after 5 attempts: timeout"),
            (cai, "telegram", "failed", "Blocked: Forbidden: bot was blocked by the user"),
            (cai, "in_app", "pending", ""),
        ],
    )
    _broadcast(other, [(ana, "in_app", "sent", "")])
    return conference


def test_the_figures_of_a_known_conference(known):
    data = conference_dashboard(known)

    assert data["totals"] == {
        "registered": 4,
        "checked_in": 2,
        "events": 2,
        "going": 14,
        "waitlist": 3,
        "reachable": 1,
    }
    hourly = data["hourly"]
    # 08:00 UTC Monday to 08:00 UTC Tuesday, every hour, labelled in Berlin time.
    assert len(hourly["labels"]) == 25
    assert hourly["labels"][0] == "Mon 07 Dec 09:00"
    assert hourly["labels"][-1] == "Tue 08 Dec 09:00"
    assert hourly["registered"][:4] == [2, 0, 1, 1]
    assert sum(hourly["registered"]) == 4
    assert hourly["checked_in"][-1] == 2
    assert sum(hourly["checked_in"]) == 2
    assert hourly["earlier"] == {"registered": 0, "checked_in": 0}

    assert [(e["title"], e["going"], e["capacity"], e["free"], e["waitlist"]) for e in data["events"]] == [
        ("Boat party", 10, 10, 0, 3),
        ("Picnic", 4, None, None, 0),
    ]
    assert data["funnels"] == [
        {
            "title": "Explorer",
            "tasks": 3,
            "stages": [
                ["Submitted something", 3],
                ["1 task approved", 2],
                ["2 tasks approved", 1],
                ["3 tasks approved", 1],
                ["Completed", 1],
            ],
        }
    ]
    [broadcast] = data["broadcasts"]
    assert {k: broadcast[k] for k in ("sent_in_app", "sent_telegram", "failed", "blocked", "waiting")} == {
        "sent_in_app": 2,
        "sent_telegram": 1,
        "failed": 1,
        "blocked": 1,
        "waiting": 1,
    }
    # ana and cai have notifications on, ben turned them off; cai blocked the bot; the fourth never started it.
    assert data["reach"] == {"registered": 4, "started_bot": 3, "notify_on": 2, "reachable": 1}


def test_the_hourly_chart_keeps_the_last_week_and_sums_what_came_before():
    from zoneinfo import ZoneInfo

    registered = {_at(0): 5, _at(10 * 24): 1, _at(10 * 24 + 2): 2}
    checked_in = {_at(10 * 24 + 1): 3}

    series = hourly_series(registered, checked_in, zone=ZoneInfo("UTC"), max_hours=24)

    assert len(series["labels"]) == 24
    assert series["labels"][-1] == "Thu 17 Dec 02:00"
    assert series["earlier"] == {"registered": 5, "checked_in": 0}
    assert series["registered"][-3:] == [1, 0, 2]
    assert series["checked_in"][-2:] == [3, 0]


def test_queries_stay_the_same_however_big_the_conference(known, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        small = conference_dashboard(known)
    for n in range(20):
        _attend(known, registered=_at(30 + n), checked_in=_at(40 + n), telegram_chat_id=5000 + n)
        EventFactory(conference=known, title=f"Extra {n}", capacity=3, going_count=1)
    quest, tasks = _quest(known, tasks=4, title="Second")
    QuestCompletion.objects.create(quest=quest, user=UserFactory())

    with django_assert_max_num_queries(7):
        big = conference_dashboard(known)

    assert big["totals"]["registered"] == small["totals"]["registered"] + 20
    assert len(big["funnels"]) == 2


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    return client


def test_the_page_shows_the_figures_and_the_chart_library(known, staff_client, django_assert_max_num_queries):
    url = reverse("admin-conference-dashboard", args=[known.pk])
    assert url == f"/admin/conferences/conference/{known.pk}/dashboard/"

    # The session and user, the conference, and the seven figure queries.
    with django_assert_max_num_queries(11):
        response = staff_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dashboard-data"' in html
    assert "dashboard/vendor/chart.js/chart.umd.min.js" in html
    assert '<span class="ibw-figure" id="tile-reachable">1</span>' in html
    assert "<td>Boat party</td>" in html
    assert "<tr><td>Explorer</td><td>2 tasks approved</td><td>1</td></tr>" in html
    change = staff_client.get(reverse("admin:conferences_conference_change", args=[known.pk])).content.decode()
    assert f'href="{url}"' in change


def test_staff_without_the_view_permission_get_a_404_and_others_the_login(known):
    staff = AdminUserFactory()
    client = Client()
    client.force_login(staff)
    url = reverse("admin-conference-dashboard", args=[known.pk])

    assert client.get(url).status_code == 404
    staff.user_permissions.add(Permission.objects.get(codename="view_conference"))
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin-conference-dashboard", args=[known.pk + 999])).status_code == 404

    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")


def test_without_the_vendored_library_the_page_still_shows_its_tables(known, staff_client, monkeypatch):
    from django.contrib.staticfiles.storage import staticfiles_storage

    from dashboard.views import CHART_JS

    url = staticfiles_storage.url

    def missing(name):
        if name == CHART_JS:
            raise ValueError(f"Missing staticfiles manifest entry for '{name}'")
        return url(name)

    monkeypatch.setattr(staticfiles_storage, "url", missing)

    response = staff_client.get(reverse("admin-conference-dashboard", args=[known.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "chart.umd.min.js" not in html
    assert "<tr><td>Explorer</td><td>2 tasks approved</td><td>1</td></tr>" in html
