"""
The organizer's admin in a real browser, against the real stack: the
conference dashboard draws its charts with the vendored Chart.js (no
network beyond the server), and the broadcast form picks a conference and
an event from searchable lists, shows the audience size change with the
segment, and sends a test to the logged-in admin only. Screenshots go to
``bench/screenshots/``.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, Delivery
from conferences.models import Attendance, Conference
from events.models import RSVP, RSVPStatus
from notifications.models import Notification
from quests.models import Quest, QuestCompletion, Submission, Task
from tests.browser.conftest import ROOT
from tests.browser.test_staff_flow import EMAIL, PASSWORD, Screenshots, choose
from tests.factories import EventFactory, UserFactory
from users.models import User

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def _vendored_chart_library():
    """What ``make`` does before the server starts: the pinned Chart.js in the dashboard's static dir."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "vendor_static.py")], check=True, cwd=ROOT)


def _week(conference: Conference) -> dict:
    """A conference in full swing: 60 registrations over two days, 38 check-ins this morning, events, a quest, broadcasts."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    people = []
    for n in range(60):
        person = UserFactory(
            telegram_chat_id=710_000 + n if n % 4 else None,
            notify_telegram=n % 10 != 1,
            telegram_blocked_at=now if n % 15 == 2 else None,
        )
        attendance = Attendance.objects.create(conference=conference, user=person)
        registered = now - timedelta(hours=48 - (n * 47) // 60, minutes=n % 50)
        checked_in = now - timedelta(hours=6 - (n % 6), minutes=(n * 7) % 55) if n < 38 else None
        Attendance.objects.filter(pk=attendance.pk).update(
            registered_at=registered, checked_in_at=checked_in, status="checked_in" if checked_in else "registered"
        )
        people.append(person)
    events = []
    for title, capacity, going, waitlist in [
        ("Boat party", 30, 30, 12),
        ("Founders breakfast", 20, 14, 0),
        ("Rooftop drinks", 40, 40, 5),
        ("City walk", None, 9, 0),
    ]:
        event = EventFactory(
            conference=conference, title=title, capacity=capacity, going_count=going, waitlist_count=waitlist
        )
        events.append(event)
    for person in people[:8]:
        RSVP.objects.create(event=events[0], user=person, status=RSVPStatus.GOING)
    quest = Quest.objects.create(title="Explorer", conference=conference)
    tasks = [Task.objects.create(quest=quest, title=f"Stop {n}", type="code", order=n) for n in range(4)]
    for n, person in enumerate(people[:30]):
        done = 4 if n < 6 else (n % 4)
        for task in tasks[:done]:
            Submission.objects.create(task=task, user=person, status="approved")
        if done < 4:
            Submission.objects.create(task=tasks[done], user=person, status="pending")
        else:
            QuestCompletion.objects.create(quest=quest, user=person)
    for title, pending in [("Doors open", 0), ("Keynote moved to Hall B", 7)]:
        broadcast = Broadcast.objects.create(
            title=title,
            audience={"segment": "attendees", "conference": conference.slug},
            channels=["in_app", "telegram"],
            status="completed" if not pending else "sending",
        )
        rows = []
        for n, person in enumerate(people):
            rows.append(Delivery(broadcast=broadcast, user=person, channel="in_app", state="sent"))
            if person.telegram_chat_id:
                state, error = "sent", ""
                if n < pending:
                    state = "pending"
                elif person.telegram_blocked_at:
                    state, error = "failed", "Blocked: Forbidden: bot was blocked by the user"
                elif n % 13 == 0:
                    state, error = "failed", "Gave up after 5 attempts: timeout"
                # Waiting rows retry tomorrow: the running worker leaves them alone.
                retry = now + timedelta(days=1) if state == "pending" else None
                rows.append(
                    Delivery(
                        broadcast=broadcast,
                        user=person,
                        channel="telegram",
                        state=state,
                        error=error,
                        next_attempt_at=retry,
                    )
                )
        Delivery.objects.bulk_create(rows)
    return {"people": people, "events": events, "quest": quest}


def test_organizer_reads_the_dashboard_and_composes_a_broadcast(stack, page, browser_telegram):
    shot = Screenshots(page)
    admin_user = User.objects.create_superuser(EMAIL, PASSWORD)
    User.objects.filter(pk=admin_user.pk).update(telegram_chat_id=790_001)
    conference = Conference.objects.create(
        slug="ibw26", name="IBW 2026", timezone="Europe/Berlin", starts_on=date.today(), ends_on=date.today()
    )
    week = _week(conference)

    page.goto(f"{stack.base_url}/admin/")
    page.fill("#id_username", EMAIL)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")

    # 1. The dashboard, from the conference's change page.
    page.goto(f"{stack.base_url}/admin/conferences/conference/{conference.pk}/change/")
    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(f"**/conference/{conference.pk}/dashboard/")
    charts = ["chart-hourly", "chart-events", "chart-reach", "chart-funnel-0", "chart-broadcasts"]
    for chart in charts:
        page.wait_for_function(f"() => window.Chart && window.Chart.getChart('{chart}') !== undefined")
    assert page.locator("#ibw-chart-missing").is_hidden()
    assert page.inner_text("#tile-registered") == "60"
    assert page.inner_text("#tile-checked-in") == "38"
    reachable = sum(1 for p in week["people"] if p.can_receive_telegram)
    assert page.inner_text("#tile-reachable") == str(reachable)
    started = [p for p in week["people"] if p.telegram_chat_id]
    notify_on = sum(1 for p in started if p.notify_telegram)
    drawn = page.evaluate("() => window.Chart.getChart('chart-reach').data.datasets[0].data")
    assert drawn == [60, len(started), notify_on, reachable]
    shot("08-dashboard")

    # 2. The broadcast form: everyone, then the conference's attendees, then the boat party's guests.
    page.goto(f"{stack.base_url}/admin/broadcasts/broadcast/add/")
    size = page.locator("#audience-size")
    everyone = User.objects.filter(is_active=True).count()
    page.wait_for_function(
        f"() => document.getElementById('audience-size').textContent.startsWith('Audience: {everyone} ')"
    )
    assert page.locator(".field-event").is_hidden()
    page.fill("#id_title", "Boat party boarding")
    page.fill("#id_body", "Boarding at pier 3 in 20 minutes. Bring your badge.")
    page.select_option("#id_segment", "attendees")
    choose(page, "conference", "IBW", "IBW 2026")
    page.wait_for_function("() => document.getElementById('audience-size').textContent.startsWith('Audience: 60 ')")
    shot("09-broadcast-audience-attendees")
    page.select_option("#id_segment", "event_going")
    assert page.locator(".field-event").is_visible()
    choose(page, "event", "Boat", "Boat party")
    page.wait_for_function("() => document.getElementById('audience-size').textContent.startsWith('Audience: 8 ')")
    assert size.inner_text() == "Audience: 8 people right now"

    # 3. A test to me only: in-app and on Telegram, nothing scheduled, nobody else told.
    page.click("#send-test")
    result = page.locator("#send-test-result")
    page.wait_for_function("() => document.getElementById('send-test-result').textContent.startsWith('Sent to you')")
    assert result.inner_text() == "Sent to you in-app and on Telegram."
    shot("10-broadcast-test-sent")
    stack.wait_for("the test's Telegram copy", lambda: browser_telegram.calls_of("sendMessage"), 30)
    assert [int(c.params["chat_id"]) for c in browser_telegram.calls_of("sendMessage")] == [790_001]
    assert list(Notification.objects.values_list("user_id", "title")) == [(admin_user.pk, "Boat party boarding")]
    assert Broadcast.objects.filter(title="Boat party boarding").count() == 0
