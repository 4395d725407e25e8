from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import client_for
from tests.factories import UserFactory
from tests.telegram import signed_init_data, signed_widget
from users.models import BotLoginToken, User
from users.services import confirm_bot_login
from users.telegram_auth import TelegramIdentity

pytestmark = pytest.mark.django_db

WIDGET_URL = "/api/v1/auth/telegram/"
WEBAPP_URL = "/api/v1/auth/telegram/webapp/"


def test_widget_login_creates_user_and_tokens_work_on_me(api):
    response = api.post(WIDGET_URL, signed_widget(777, first_name="Ada", last_name="Byron", username="ada"))

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["telegram_id"] == 777
    assert body["user"]["display_name"] == "Ada Byron"
    assert User.objects.filter(telegram_id=777).count() == 1
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    me = api.get("/api/v1/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "ada"


def test_widget_login_twice_reuses_user_and_keeps_edited_name(api):
    api.post(WIDGET_URL, signed_widget(777, first_name="Ada"))
    User.objects.filter(telegram_id=777).update(first_name="Countess")

    response = api.post(WIDGET_URL, signed_widget(777, first_name="Ada", username="ada_new"))

    assert response.status_code == 200
    assert User.objects.filter(telegram_id=777).count() == 1
    assert response.json()["user"]["first_name"] == "Countess"
    assert response.json()["user"]["username"] == "ada_new"


def test_widget_login_forged_hash_is_rejected(api):
    payload = signed_widget(777)
    payload["hash"] = "0" * 64

    response = api.post(WIDGET_URL, payload)

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"
    assert not User.objects.filter(telegram_id=777).exists()


def test_widget_login_with_tampered_field_is_rejected(api):
    payload = signed_widget(777)
    payload["id"] = 778

    response = api.post(WIDGET_URL, payload)

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"


def test_widget_login_signed_by_another_bot_is_rejected(api):
    response = api.post(WIDGET_URL, signed_widget(777, token="999:other-bot"))

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"


def test_widget_login_stale_auth_date_is_expired(api):
    response = api.post(WIDGET_URL, signed_widget(777, auth_date=int(time.time()) - 86401))

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_EXPIRED"


def test_widget_login_future_auth_date_is_invalid(api):
    response = api.post(WIDGET_URL, signed_widget(777, auth_date=int(time.time()) + 3600))

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"


def test_widget_login_max_age_comes_from_settings(api, settings):
    settings.TELEGRAM_LOGIN_MAX_AGE = 60

    response = api.post(WIDGET_URL, signed_widget(777, auth_date=int(time.time()) - 120))

    assert response.json()["code"] == "TELEGRAM_AUTH_EXPIRED"


def test_widget_login_missing_fields_is_validation_error(api):
    response = api.post(WIDGET_URL, {"id": 1})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert set(body["details"]) == {"auth_date", "hash"}


def test_webapp_login_returns_tokens(api):
    response = api.post(WEBAPP_URL, {"init_data": signed_init_data(888, first_name="Grace")})

    assert response.status_code == 200
    assert response.json()["user"]["telegram_id"] == 888
    assert response.json()["user"]["first_name"] == "Grace"


def test_webapp_login_init_data_of_another_bot_is_rejected(api):
    response = api.post(WEBAPP_URL, {"init_data": signed_init_data(888, token="999:other-bot")})

    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"


def test_webapp_login_widget_style_hash_is_rejected(api):
    # The widget's key (SHA256 of the token) must not validate initData.
    import json
    from urllib.parse import urlencode

    from tests.telegram import BOT_TOKEN
    from users.telegram_auth import widget_hash

    fields = {"user": json.dumps({"id": 5}), "auth_date": str(int(time.time()))}
    fields["hash"] = widget_hash(fields, BOT_TOKEN)

    response = api.post(WEBAPP_URL, {"init_data": urlencode(fields)})

    assert response.status_code == 401


def test_webapp_login_stale_is_expired(api):
    response = api.post(WEBAPP_URL, {"init_data": signed_init_data(888, auth_date=int(time.time()) - 90000)})

    assert response.json()["code"] == "TELEGRAM_AUTH_EXPIRED"


def test_login_without_bot_token_configured_is_503_not_500(api, settings):
    settings.TELEGRAM_BOT_TOKEN = ""

    response = api.post(WIDGET_URL, signed_widget(777))

    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"


# --- refresh, rotation, logout ---------------------------------------------


def _login(api) -> dict:
    return api.post(WIDGET_URL, signed_widget(777)).json()


def test_refresh_rotates_and_old_refresh_stops_working(api):
    tokens = _login(api)

    first = api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
    again = api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})

    assert first.status_code == 200
    assert set(first.json()) == {"access", "refresh"}
    assert first.json()["refresh"] != tokens["refresh"]
    assert again.status_code == 401
    assert again.json()["code"] == "INVALID_TOKEN"
    newer = api.post("/api/v1/auth/token/refresh/", {"refresh": first.json()["refresh"]})
    assert newer.status_code == 200


def test_refresh_with_garbage_is_invalid_token(api):
    response = api.post("/api/v1/auth/token/refresh/", {"refresh": "not-a-jwt"})

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


def test_logout_revokes_refresh_token(api):
    tokens = _login(api)

    logout = api.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]})
    refresh = api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})

    assert logout.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "INVALID_TOKEN"


@pytest.mark.django_db(transaction=True)
def test_concurrent_refresh_with_one_token_yields_one_new_pair():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    from rest_framework.test import APIClient

    tokens = APIClient().post(WIDGET_URL, signed_widget(777)).json()

    def refresh(_):
        from django.db import connection as conn

        try:
            return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}).status_code
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(refresh, range(8)))

    assert sorted(codes) == [200] + [401] * 7


def test_access_token_garbage_is_invalid_token(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer nonsense")

    response = api.get("/api/v1/users/me/")

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


# --- bot deep-link login ------------------------------------------------------


def test_bot_login_flow_pending_confirmed_then_used(api):
    created = api.post("/api/v1/auth/telegram/bot-login/")
    token = created.json()["token"]
    poll_url = f"/api/v1/auth/telegram/bot-login/{token}/"

    pending = api.get(poll_url)
    confirm_bot_login(token, identity=TelegramIdentity(id=999, first_name="Bo"), chat_id=999)
    confirmed = api.get(poll_url)
    used = api.get(poll_url)

    assert created.status_code == 201
    assert created.json()["deep_link"] == f"https://t.me/ibw_test_bot?start=login_{token}"
    assert len(token) <= 58 and all(c.isalnum() or c in "-_" for c in token)
    assert pending.json() == {"status": "pending"}
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["user"]["telegram_id"] == 999
    assert client_for(User.objects.get(telegram_id=999)).get("/api/v1/users/me/").status_code == 200
    assert used.status_code == 410
    assert used.json()["code"] == "LOGIN_TOKEN_USED"
    assert User.objects.get(telegram_id=999).telegram_chat_id == 999


def test_bot_login_expired_token(api):
    token = api.post("/api/v1/auth/telegram/bot-login/").json()["token"]
    BotLoginToken.objects.filter(token=token).update(expires_at=timezone.now())

    response = api.get(f"/api/v1/auth/telegram/bot-login/{token}/")

    assert response.status_code == 410
    assert response.json()["code"] == "LOGIN_TOKEN_EXPIRED"


def test_bot_login_confirmed_by_another_person_is_used(api):
    token = api.post("/api/v1/auth/telegram/bot-login/").json()["token"]
    confirm_bot_login(token, identity=TelegramIdentity(id=1))

    from users.errors import LoginTokenUsed

    with pytest.raises(LoginTokenUsed):
        confirm_bot_login(token, identity=TelegramIdentity(id=2))


def test_bot_login_unknown_token_is_404(api):
    response = api.get("/api/v1/auth/telegram/bot-login/unknown/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_first_login_race_creates_one_user():
    UserFactory()  # the database is not empty
    identity = TelegramIdentity(id=31337, first_name="Race")
    from users.services import upsert_telegram_user

    first = upsert_telegram_user(identity)
    second = upsert_telegram_user(identity)

    assert first.pk == second.pk
    assert User.objects.filter(telegram_id=31337).count() == 1
