"""``manage.py issue_token``: tokens for trying the API without a Telegram bot."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def _issue(*args: str) -> str:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue()


def _token(output: str, name: str) -> str:
    match = re.search(rf"^{name}\s+(\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_issue_token_by_telegram_id_gives_working_tokens():
    user = UserFactory(telegram_id=5551234, display_name="Tess")

    output = _issue("5551234")

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(output, 'access')}")
    assert api.get("/api/v1/users/me/").json()["id"] == user.pk
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": _token(output, "refresh")}, format="json")
    assert refreshed.status_code == 200
    assert (
        f"curl -H 'Authorization: Bearer {_token(output, 'access')}' http://localhost:8000/api/v1/users/me/" in output
    )


def test_issue_token_by_email_and_base_url():
    user = UserFactory(telegram_id=None, email="ops@example.org")

    output = _issue("OPS@example.org", "--base-url", "http://127.0.0.1:9000/")

    assert output.startswith(f"User {user.pk}: ")
    assert "http://127.0.0.1:9000/api/v1/users/me/" in output


def test_issue_token_create_makes_a_demo_attendee_once():
    first = _issue("7770001", "--create")
    second = _issue("7770001", "--create")

    user = User.objects.get(telegram_id=7770001)
    assert (user.get_display_name(), user.roles, user.has_usable_password()) == ("Demo Attendee", ["attendee"], False)
    assert first.startswith(f"Created {user.pk}: Demo Attendee (telegram_id 7770001)")
    assert second.startswith(f"User {user.pk}: ")
    assert User.objects.count() == 1


def test_issue_token_for_nobody_without_create_is_a_clear_error():
    with pytest.raises(CommandError, match="No user has the Telegram id or email '424242'; add --create"):
        _issue("424242")
    assert not User.objects.exists()


def test_issue_token_refuses_what_is_neither_an_id_nor_an_email():
    with pytest.raises(CommandError, match="Give a Telegram id"):
        _issue("somebody", "--create")
