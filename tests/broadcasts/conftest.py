from tests.notifications.conftest import _fresh_rate_limiter, tg_user  # noqa: F401 (the same fixtures apply)
