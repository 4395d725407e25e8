"""
The organizer's flow in a real browser, against the real stack: log into
Django admin, import a schedule, schedule a broadcast to the attendees, and
watch its progress bar reach 100% while the Celery worker and beat (not the
test) do the sending. Screenshots go to ``bench/screenshots/``.

The broadcast is scheduled ``SEND_AHEAD`` (one minute) ahead; nothing else
in the flow depends on the delay (``BROWSER_SEND_AHEAD=20`` runs it quicker). Beat's ``notifications.dispatch_due`` sweep (every
5 s) and the start task enqueued with ``eta=send_at`` both aim to start it at
that time; the test checks it stays ``Scheduled`` until then, that beat is
dispatching the sweep, and that every attendee got both messages once.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from broadcasts.models import Broadcast, BroadcastStatus, Delivery
from conferences.models import Attendance, Conference, Session
from notifications.models import DeliveryState, Notification
from tests.browser.conftest import SCREENSHOTS
from tests.factories import UserFactory
from users.models import User

DATA = Path(__file__).resolve().parents[1] / "data" / "pretalx-democon.json"
# One minute ahead, as the staff flow is specified; BROWSER_SEND_AHEAD=20 gives a quicker local run.
SEND_AHEAD = timedelta(seconds=int(os.environ.get("BROWSER_SEND_AHEAD", "60")))
ATTENDEES = 5
EMAIL = "organizer@example.org"
PASSWORD = "a-long-browser-test-password-9471"  # noqa: S105 (a throwaway test account)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Screenshots:
    """Full-page PNGs in bench/screenshots/, with the seconds since the start printed (``-s`` shows them)."""

    def __init__(self, page) -> None:
        self.page = page
        self.started = time.monotonic()

    def __call__(self, name: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f}s {name}")
        # Scrolled down (to a button), a full-page shot would show the sticky admin sidebar halfway down.
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def choose(page, name: str, search: str, option: str) -> None:
    """Pick ``option`` in the searchable list (select2 autocomplete) of field ``name`` after typing ``search``."""
    page.click(f".field-{name} .select2-selection")
    page.fill(".select2-container--open .select2-search__field", search)
    page.locator(".select2-results__option", has_text=option).first.click()


def _progress(page) -> str:
    return page.locator(".field-progress_bar .readonly").inner_text().strip()


def test_organizer_imports_a_schedule_and_broadcasts_to_attendees(stack, page, browser_telegram):
    shot = Screenshots(page)
    User.objects.create_superuser(EMAIL, PASSWORD)
    conference = Conference.objects.create(
        slug="democon", name="DemoCon", timezone="UTC", starts_on=date(2020, 12, 14), ends_on=date(2020, 12, 16)
    )
    attendees = [UserFactory(telegram_chat_id=700_000 + n) for n in range(ATTENDEES)]
    for user in attendees:
        Attendance.objects.create(conference=conference, user=user)
    bystander = UserFactory(telegram_chat_id=799_999)  # not registered: must get nothing

    # 1. Log in with email and password.
    page.goto(f"{stack.base_url}/admin/")
    page.fill("#id_username", EMAIL)
    page.fill("#id_password", PASSWORD)
    shot("01-login")
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    assert "Site administration" in page.title()

    # 2. Import the schedule from the conference list's "import schedule" link.
    page.goto(f"{stack.base_url}/admin/conferences/conference/")
    page.get_by_role("link", name="import schedule", exact=True).click()
    page.wait_for_selector("input[type=file]")
    page.set_input_files("input[type=file]", str(DATA))
    shot("02-import-form")
    page.click("input[type=submit][value=Import]")
    success = page.locator(".messagelist .success")
    success.wait_for()
    assert re.search(r"Imported: \d+ created", success.inner_text()), success.inner_text()
    shot("03-import-result")
    sessions = Session.objects.filter(conference=conference).count()
    assert sessions > 0
    assert f"{sessions} created" in success.inner_text()
    page.goto(f"{stack.base_url}/admin/conferences/session/?conference__id__exact={conference.pk}")
    assert f"{sessions} sessions" in page.locator("#changelist-form .paginator").inner_text()
    shot("04-imported-sessions")

    # 3. A broadcast to the conference's attendees, in-app and Telegram, SEND_AHEAD from now.
    page.goto(f"{stack.base_url}/admin/broadcasts/broadcast/add/")
    send_at = (timezone.now() + SEND_AHEAD).replace(microsecond=0)
    page.fill("#id_title", "Doors open")
    page.fill("#id_body", "The keynote starts in the main hall in 15 minutes.")
    page.select_option("#id_segment", "attendees")
    choose(page, "conference", "Demo", "DemoCon")
    page.wait_for_function(
        f"() => document.getElementById('audience-size').textContent.startsWith('Audience: {ATTENDEES} ')"
    )
    page.check("input[name=channel_choices][value=in_app]")
    page.check("input[name=channel_choices][value=telegram]")
    page.fill("#id_send_at_0", send_at.strftime("%Y-%m-%d"))
    page.fill("#id_send_at_1", send_at.strftime("%H:%M:%S"))
    shot("05-broadcast-form")
    page.click("input[name=_continue]")
    page.locator(".messagelist .success").wait_for()
    broadcast = Broadcast.objects.get(title="Doors open")
    assert broadcast.send_at == send_at
    assert broadcast.status == BroadcastStatus.SCHEDULED, broadcast.status
    assert page.url.rstrip("/").endswith(f"/broadcast/{broadcast.pk}/change")
    assert "(Scheduled)" in _progress(page), _progress(page)
    shot("06-broadcast-scheduled")

    # 4. Reload the change page until the bar says 100% and the broadcast is completed.
    change_url = page.url
    deadline = time.monotonic() + SEND_AHEAD.total_seconds() + 60
    while True:
        stack.check_alive()
        text = _progress(page)
        if text.startswith("100%") and "(Completed)" in text:
            break
        assert time.monotonic() < deadline, f"progress stuck at {text!r}\n{stack.tails()}"
        page.wait_for_timeout(1000)
        page.goto(change_url)
    shot("07-broadcast-progress-100")

    expected = ATTENDEES * 2
    assert text == f"100% · {expected} sent, 0 failed of {expected} (Completed)", text
    assert "width:100%" in page.locator(".field-progress_bar .readonly div div").get_attribute("style")
    # It waited for its time, and was started by the running processes, not by the test.
    broadcast.refresh_from_db()
    assert broadcast.started_at >= send_at
    assert (broadcast.total, broadcast.sent, broadcast.failed) == (expected, expected, 0)
    # Exactly one in-app notification and one Telegram message per attendee, none to anyone else.
    assert Delivery.objects.filter(broadcast=broadcast, state=DeliveryState.SENT).count() == expected
    notified = sorted(Notification.objects.filter(title="Doors open").values_list("user_id", flat=True))
    assert notified == sorted(user.pk for user in attendees)
    chats = sorted(call.params["chat_id"] for call in browser_telegram.calls_of("sendMessage"))
    assert [int(chat) for chat in chats] == sorted(user.telegram_chat_id for user in attendees)
    assert bystander.pk not in notified
    # Beat was alive and dispatching its sweep to the worker the whole time.
    assert "notifications.dispatch_due" in stack.log("beat"), stack.tails()
    assert "notifications.dispatch_due" in stack.log("worker"), stack.tails()
