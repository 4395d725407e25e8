"""The API conventions every endpoint shares: errors, request ids, admin auth, health."""

from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from ibw.api import IsAdmin
from ibw.embedded import EmbeddedRedis, free_port

pytestmark = pytest.mark.django_db


class _Boom(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("secret internals")


class _AdminOnly(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("boom/", _Boom.as_view()),
    path("admin-only/", _AdminOnly.as_view()),
]


def test_unknown_url_has_error_body(api):
    response = api.get("/no/such/path/")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "code": "NOT_FOUND"}


def test_post_to_unknown_api_url_is_json_404_not_csrf_page(user):
    from rest_framework.test import APIClient

    from users.services import issue_tokens

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")

    response = client.post("/api/v1/users/null,null/block/")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/conferences/any/sessions/?track=%00",
        "/api/v1/conferences/any/sessions/?q=a%00b",
        "/api/v1/auth/telegram/bot-login/tok%00en/",
    ],
)
def test_nul_byte_in_url_is_400_not_a_database_error(api, url):
    response = api.get(url)

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response["X-Request-ID"]


def test_method_not_allowed_has_error_body(user_api):
    # DELETE erases the account (privacy); PUT is what this path does not allow.
    response = user_api.put("/api/v1/users/me/", {}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_malformed_json_is_validation_error(api):
    response = api.post("/api/v1/auth/telegram/", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_unsupported_media_type(api):
    response = api.post("/api/v1/auth/telegram/", data="<x/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_unhandled_error_is_500_without_traceback(api, settings):
    settings.ROOT_URLCONF = __name__

    response = api.get("/boom/")

    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong on our side.", "code": "INTERNAL_ERROR"}
    assert "secret internals" not in response.content.decode()


def test_admin_endpoint_without_credentials_is_401(api, settings):
    settings.ROOT_URLCONF = __name__

    response = api.get("/admin-only/")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_admin_endpoint_with_wrong_key_is_401(api, settings):
    settings.ROOT_URLCONF = __name__
    api.credentials(HTTP_X_ADMIN_KEY="wrong")

    response = api.get("/admin-only/")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_admin_endpoint_with_user_jwt_is_403(user_api, settings):
    settings.ROOT_URLCONF = __name__

    response = user_api.get("/admin-only/")

    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"


def test_admin_endpoint_accepts_key_and_staff_jwt(admin_api, admin_user, settings):
    from tests.conftest import client_for

    settings.ROOT_URLCONF = __name__

    assert admin_api.get("/admin-only/").status_code == 200
    assert client_for(admin_user).get("/admin-only/").status_code == 200


def test_admin_key_unset_refuses_every_key(api, settings):
    settings.ROOT_URLCONF = __name__
    settings.ADMIN_API_KEY = ""
    api.credentials(HTTP_X_ADMIN_KEY="")

    assert api.get("/admin-only/").status_code == 401


def test_request_id_is_echoed(api):
    response = api.get("/health", HTTP_X_REQUEST_ID="abc-123")

    assert response["X-Request-ID"] == "abc-123"


def test_request_id_is_generated_when_missing_or_invalid(api):
    plain = api.get("/health")
    hostile = api.get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert len(plain["X-Request-ID"]) == 32
    assert hostile["X-Request-ID"] != "bad id\nwith newline"
    assert len(hostile["X-Request-ID"]) == 32


def test_request_id_is_bound_into_log_lines(api, settings, caplog):
    settings.ROOT_URLCONF = __name__

    api.get("/boom/", HTTP_X_REQUEST_ID="trace-me")

    events = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    assert {"event": "unhandled_exception", "request_id": "trace-me"}.items() <= next(
        e for e in events if e.get("event") == "unhandled_exception"
    ).items()


def test_error_on_error_has_request_id(api):
    response = api.get("/no/such/path/", HTTP_X_REQUEST_ID="r-404")

    assert response["X-Request-ID"] == "r-404"


def test_anonymous_throttle_answers_429_with_retry_after(api):
    from ibw.api import AnonThrottle

    original = AnonThrottle.THROTTLE_RATES
    AnonThrottle.THROTTLE_RATES = {**original, "anon": "2/min"}
    try:
        responses = [api.get("/api/v1/conferences/") for _ in range(3)]
    finally:
        AnonThrottle.THROTTLE_RATES = original

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[-1].json()["code"] == "RATE_LIMITED"
    assert int(responses[-1]["Retry-After"]) >= 1


def test_health(api):
    response = api.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_each_check(api, settings):
    settings.OPENAI_API_KEY = ""

    response = api.get("/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert body["checks"]["openai"] == "disabled"
    assert body["checks"]["telegram"] == "configured"


def test_ready_is_503_when_redis_is_stopped(api, settings, tmp_path):
    server = EmbeddedRedis(free_port(), workdir=tmp_path).start()
    settings.REDIS_URL = server.url
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [server.url]}}
    }
    assert api.get("/ready").status_code == 200

    server.stop()
    response = api.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"].startswith("error")
    assert body["checks"]["channel_layer"].startswith("error")
    assert body["checks"]["database"] == "ok"


def test_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/?format=json")
    docs = api.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/v1/auth/telegram/" in schema.json()["paths"]
    assert docs.status_code == 200


def test_plain_http_is_redirected_in_production_unless_behind_tls_proxy(api, settings):
    settings.SECURE_SSL_REDIRECT = True

    plain = api.get("/api/v1/users/me/")
    proxied_tls = api.get("/api/v1/users/me/", HTTP_X_FORWARDED_PROTO="https")
    probe = api.get("/health")

    assert plain.status_code == 301
    assert plain["Location"].startswith("https://")
    assert proxied_tls.status_code == 401
    assert probe.status_code == 200
