from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ibw import health, home
from ibw.errors import page_not_found as page_not_found_view

handler400 = "ibw.errors.bad_request"
handler403 = "ibw.errors.permission_denied"
handler404 = "ibw.errors.page_not_found"
handler500 = "ibw.errors.server_error"

api_v1 = [
    # First: its users/me/ (users' view plus DELETE, the erasure) shadows users' own route.
    path("", include("privacy.api.urls")),
    path("", include("users.api.urls")),
    path("", include("uploads.api.urls")),
    path("", include("conferences.api.urls")),
    path("", include("events.api.urls")),
    path("", include("connections.api.urls")),
    path("", include("meetings.api.urls")),
    path("", include("live.api.urls")),
    path("", include("quests.api.urls")),
    path("", include("chats.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("bot.api.urls")),
    path("", include("broadcasts.api.urls")),
]

urlpatterns = [
    path("", home.index, name="home"),
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include(api_v1)),
    # The dashboard's admin pages first: the admin site's catch-all would take their paths.
    path("admin/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
]

if settings.STORAGE_BACKEND == "local":
    # Local uploads are served by the app itself; S3/Azure serve their own URLs.
    urlpatterns.append(
        re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT})
    )

# Unknown API paths answer the contract's JSON 404 in DEBUG too (Django's
# technical 404 page would otherwise replace handler404).
urlpatterns.append(re_path(r"^api/", page_not_found_view))
