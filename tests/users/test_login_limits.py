"""
Login limits that hold a venue NAT (contract v1.1, Conventions): successful
logins per Telegram account, failed attempts per client address, refreshes
per token owner, the client address from NUM_PROXIES only.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from tests.telegram import signed_init_data, signed_widget
from users.models import BotLoginToken, User
from users.services import create_bot_login, issue_tokens

pytestmark = pytest.mark.django_db

WIDGET_URL = "/api/v1/auth/telegram/"
WEBAPP_URL = "/api/v1/auth/telegram/webapp/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VENUE = "203.0.113.7"


def _bad_widget(telegram_id: int) -> dict:
    return {**signed_widget(telegram_id), "hash": "0" * 64}


def _assert_rate_limited(response) -> None:
    assert response.status_code == 429
    assert response.json()["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) >= 1


def test_a_thousand_accounts_log_in_from_one_address_within_a_minute(api):
    started = time.monotonic()
    codes = [
        api.post(WEBAPP_URL, {"init_data": signed_init_data(500_000 + n)}, REMOTE_ADDR=VENUE).status_code
        for n in range(1000)
    ]

    assert time.monotonic() - started < 60
    assert codes.count(200) == 1000
    assert User.objects.filter(telegram_id__gte=500_000, telegram_id__lt=501_000).count() == 1000


def test_logins_are_counted_per_telegram_account_not_per_address(api, settings):
    settings.THROTTLE_LOGIN = "3/min"

    same_account = [
        api.post(WIDGET_URL, signed_widget(777), REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(4)
    ]
    other_account = api.post(WIDGET_URL, signed_widget(778), REMOTE_ADDR="198.51.100.1")

    assert same_account == [200, 200, 200, 429]
    assert other_account.status_code == 200


def test_flood_of_bad_signatures_blocks_that_address_only(api, settings):
    settings.THROTTLE_LOGIN_FAILURES = "5/min"
    attacker, neighbour = "192.0.2.66", "192.0.2.67"

    failures = [api.post(WIDGET_URL, _bad_widget(900 + n), REMOTE_ADDR=attacker) for n in range(5)]
    flood = [api.post(WIDGET_URL, _bad_widget(950 + n), REMOTE_ADDR=attacker) for n in range(20)]
    good_from_attacker = api.post(WIDGET_URL, signed_widget(1001), REMOTE_ADDR=attacker)
    mini_app_from_attacker = api.post(WEBAPP_URL, {"init_data": signed_init_data(1001)}, REMOTE_ADDR=attacker)
    neighbour_login = api.post(WEBAPP_URL, {"init_data": signed_init_data(1002)}, REMOTE_ADDR=neighbour)

    assert [r.json()["code"] for r in failures] == ["TELEGRAM_AUTH_INVALID"] * 5
    for response in [*flood, good_from_attacker, mini_app_from_attacker]:
        _assert_rate_limited(response)
    assert neighbour_login.status_code == 200
    assert not User.objects.filter(telegram_id=1001).exists()
    assert User.objects.filter(telegram_id=1002).exists()


def test_expired_signatures_and_bad_login_tokens_count_as_failures(api, settings):
    settings.THROTTLE_LOGIN_FAILURES = "3/min"
    old = int(time.time()) - 10 * 86400

    expired = api.post(WIDGET_URL, signed_widget(5, auth_date=old), REMOTE_ADDR=VENUE)
    unknown = api.get("/api/v1/auth/telegram/bot-login/no-such-token/", REMOTE_ADDR=VENUE)
    login = create_bot_login()
    BotLoginToken.objects.filter(pk=login.pk).update(expires_at=timezone.now())
    expired_token = api.get(f"/api/v1/auth/telegram/bot-login/{login.token}/", REMOTE_ADDR=VENUE)
    blocked = api.post("/api/v1/auth/telegram/bot-login/", REMOTE_ADDR=VENUE)

    assert expired.json()["code"] == "TELEGRAM_AUTH_EXPIRED"
    assert unknown.status_code == 404
    assert expired_token.json()["code"] == "LOGIN_TOKEN_EXPIRED"
    _assert_rate_limited(blocked)
    assert api.post("/api/v1/auth/telegram/bot-login/", REMOTE_ADDR="192.0.2.1").status_code == 201


def test_blocked_address_still_uses_the_rest_of_the_api(api, settings, user):
    settings.THROTTLE_LOGIN_FAILURES = "1/min"
    api.post(WIDGET_URL, _bad_widget(1), REMOTE_ADDR=VENUE)
    _assert_rate_limited(api.post(WIDGET_URL, signed_widget(2), REMOTE_ADDR=VENUE))

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")
    assert api.get("/api/v1/users/me/", REMOTE_ADDR=VENUE).status_code == 200


def test_spoofed_forwarded_for_entries_are_ignored(api, settings):
    """Behind one proxy the client address is the last X-Forwarded-For entry;
    whatever the client put before it does not give it a fresh bucket."""
    settings.NUM_PROXIES = 1
    settings.THROTTLE_LOGIN_FAILURES = "3/min"
    proxy = "10.0.0.2"

    attempts = [
        api.post(WIDGET_URL, _bad_widget(n), REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, {VENUE}")
        for n in range(6)
    ]
    other_client = api.post(WIDGET_URL, signed_widget(3), REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.9")

    assert [r.status_code for r in attempts] == [401, 401, 401, 429, 429, 429]
    assert other_client.status_code == 200


def test_forwarded_for_is_ignored_without_proxies(api, settings):
    settings.NUM_PROXIES = 0
    settings.THROTTLE_LOGIN_FAILURES = "2/min"

    codes = [
        api.post(WIDGET_URL, _bad_widget(n), REMOTE_ADDR=VENUE, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}").status_code
        for n in range(3)
    ]

    assert codes == [401, 401, 429]


def test_forwarded_for_shorter_than_the_proxy_chain_falls_back_to_the_peer(api, settings):
    """A request with fewer entries than proxies did not pass through them: its
    only entry is the client's choice, so the peer address counts."""
    settings.NUM_PROXIES = 2
    settings.THROTTLE_LOGIN_FAILURES = "2/min"

    codes = [
        api.post(WIDGET_URL, _bad_widget(n), REMOTE_ADDR=VENUE, HTTP_X_FORWARDED_FOR=f"1.2.3.{n}").status_code
        for n in range(3)
    ]

    assert codes == [401, 401, 429]


def test_refreshes_count_per_token_owner_not_per_address(api, settings, user):
    settings.THROTTLE_USER = "3/min"
    other = User.objects.create(telegram_id=4321, first_name="Other")

    def refresh(person, address):
        return api.post(REFRESH_URL, {"refresh": issue_tokens(person)["refresh"]}, REMOTE_ADDR=address)

    mine = [refresh(user, f"198.51.100.{n}").status_code for n in range(4)]
    theirs = refresh(other, "198.51.100.1")

    assert mine == [200, 200, 200, 429]
    assert theirs.status_code == 200


def test_many_people_refresh_from_one_address(api):
    people = [User.objects.create(telegram_id=700_000 + n, first_name="P") for n in range(150)]

    codes = [
        api.post(REFRESH_URL, {"refresh": issue_tokens(p)["refresh"]}, REMOTE_ADDR=VENUE).status_code for p in people
    ]

    assert codes.count(200) == 150


def test_bot_login_poll_is_not_limited_per_address(api, settings):
    """Two hundred people behind one address poll their pending bot logins
    more often than the anonymous per-address limit allows."""
    settings.THROTTLE_ANON = "120/min"
    tokens = [create_bot_login().token for _ in range(200)]

    codes = [api.get(f"/api/v1/auth/telegram/bot-login/{t}/", REMOTE_ADDR=VENUE).status_code for t in tokens]

    assert codes == [200] * 200


def test_bot_login_poll_is_limited_per_token(api, settings):
    settings.THROTTLE_ANON = "3/min"
    token = create_bot_login().token

    codes = [api.get(f"/api/v1/auth/telegram/bot-login/{token}/", REMOTE_ADDR=VENUE).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
