"""Telegram Login over OpenID Connect against a local fake issuer that signs with its own key."""

from __future__ import annotations

import time

import pytest

from tests.fakes.oidc import FakeOidcIssuer, pkce_pair
from tests.telegram import signed_widget
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/telegram/oidc/"
CLIENT_ID = "123456789"  # the digits before ":" in the test bot token
REDIRECT = "https://app.example/callback"


@pytest.fixture(scope="module")
def _issuer():
    with FakeOidcIssuer() as issuer:
        yield issuer


@pytest.fixture
def issuer(_issuer, settings):
    _issuer.reset()
    settings.TELEGRAM_OIDC_ISSUER = _issuer.url
    settings.TELEGRAM_OIDC_CLIENT_SECRET = _issuer.client_secret
    return _issuer


def _login(api, issuer, telegram_id=5001, *, verifier_override=None, **grant):
    verifier, challenge = pkce_pair()
    code = issuer.authorize(telegram_id=telegram_id, client_id=CLIENT_ID, challenge=challenge, **grant)
    body = {"code": code, "code_verifier": verifier_override or verifier, "redirect_uri": REDIRECT}
    return api.post(URL, body, format="json"), body


def test_a_code_logs_in_and_creates_the_person(api, issuer):
    response, _ = _login(api, issuer, 5001)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"]["telegram_id"] == 5001
    assert body["user"]["username"] == "ada"
    user = User.objects.get(telegram_id=5001)
    assert (user.first_name, user.last_name) == ("Ada", "Lovelace")
    token_call = next(r for r in issuer.requests if r.path == "/token")
    assert token_call.headers["Authorization"].startswith("Basic ")  # client id + secret
    assert [g.used for g in issuer.grants.values()] == [True]


def test_the_same_person_as_a_widget_login(api, issuer):
    widget = api.post("/api/v1/auth/telegram/", signed_widget(5002, first_name="Grace"))
    assert widget.status_code == 200

    response, _ = _login(api, issuer, 5002)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == widget.json()["user"]["id"]
    assert User.objects.filter(telegram_id=5002).count() == 1


def test_get_tells_clients_how_to_build_the_authorization_url(api, issuer):
    response = api.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "issuer": issuer.url,
        "client_id": CLIENT_ID,
        "authorization_endpoint": f"{issuer.url}/auth",
        "scopes": ["openid", "profile"],
    }


def test_reading_the_configuration_is_not_a_login_attempt(api, issuer, settings):
    settings.THROTTLE_LOGIN_FAILURES = "2/min"
    settings.TELEGRAM_OIDC_ISSUER = "http://127.0.0.1:9"  # unreachable: each read answers 503
    failed_reads = [api.get(URL).status_code for _ in range(3)]
    settings.TELEGRAM_OIDC_ISSUER = issuer.url
    login, _ = _login(api, issuer, 5020)

    assert failed_reads == [503, 503, 503]
    assert login.status_code == 200  # three failed reads did not block the address


def test_an_unreachable_issuer_makes_the_configuration_a_503(api, settings):
    settings.TELEGRAM_OIDC_ISSUER = "http://127.0.0.1:9"
    response = api.get(URL)
    assert response.status_code == 503
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"


def _refused(response):
    assert response.status_code == 401
    assert response.json()["code"] == "TELEGRAM_AUTH_INVALID"
    assert User.objects.count() == 0


def test_a_reused_code_is_refused(api, issuer):
    first, body = _login(api, issuer, 5003)
    assert first.status_code == 200
    User.objects.all().delete()

    _refused(api.post(URL, body, format="json"))


def test_a_wrong_verifier_is_refused(api, issuer):
    _refused(_login(api, issuer, verifier_override=pkce_pair()[0])[0])


def test_a_wrong_audience_is_refused(api, issuer):
    _refused(_login(api, issuer, token_overrides={"aud": "987654321"})[0])


def test_a_wrong_issuer_is_refused(api, issuer):
    _refused(_login(api, issuer, token_overrides={"iss": "https://evil.example"})[0])


def test_an_expired_token_is_refused(api, issuer):
    past = int(time.time()) - 3600
    _refused(_login(api, issuer, token_overrides={"iat": past - 300, "exp": past})[0])


def test_a_bad_signature_is_refused(api, issuer):
    _refused(_login(api, issuer, sign_with_other_key=True)[0])


def test_a_token_without_the_id_claim_is_refused(api, issuer):
    _refused(_login(api, issuer, token_overrides={"id": None})[0])


def test_an_unreachable_issuer_is_refused(api, settings):
    settings.TELEGRAM_OIDC_ISSUER = "http://127.0.0.1:9"
    settings.TELEGRAM_OIDC_CLIENT_SECRET = "x"
    response = api.post(URL, {"code": "c", "code_verifier": "v" * 43, "redirect_uri": REDIRECT}, format="json")
    _refused(response)


def test_a_malformed_body_is_a_400(api, issuer):
    response = api.post(URL, {"code": "c"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_failed_attempts_count_for_the_address(api, issuer, settings):
    settings.THROTTLE_LOGIN_FAILURES = "3/min"
    failures = [_login(api, issuer, verifier_override=pkce_pair()[0])[0].status_code for _ in range(3)]
    blocked, _ = _login(api, issuer, 5010)
    elsewhere = api.post(URL, _login_body(issuer, 5011), format="json", REMOTE_ADDR="10.9.8.7")

    assert failures == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "RATE_LIMITED"
    assert elsewhere.status_code == 200


def _login_body(issuer, telegram_id):
    verifier, challenge = pkce_pair()
    code = issuer.authorize(telegram_id=telegram_id, client_id=CLIENT_ID, challenge=challenge)
    return {"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}
