from django.urls import path

from users.api import connection_views, views

urlpatterns = [
    path("auth/telegram/", views.TelegramLoginView.as_view(), name="auth-telegram"),
    path("auth/telegram/webapp/", views.TelegramWebAppLoginView.as_view(), name="auth-telegram-webapp"),
    path("auth/telegram/bot-login/", views.BotLoginCreateView.as_view(), name="auth-bot-login"),
    path("auth/telegram/bot-login/<str:token>/", views.BotLoginPollView.as_view(), name="auth-bot-login-poll"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("users/me/enrich/", views.EnrichView.as_view(), name="users-me-enrich"),
    path("users/me/avatar/", views.AvatarView.as_view(), name="users-me-avatar"),
    path("users/<int:user_id>/", views.UserDetailView.as_view(), name="users-detail"),
    path("users/<int:user_id>/block/", connection_views.UserBlockView.as_view(), name="users-block"),
    # recommendations/ and scan/ before <int:pk>/ so they are never read as ids.
    path("connections/", connection_views.ConnectionListCreateView.as_view(), name="connections"),
    path(
        "connections/recommendations/",
        connection_views.RecommendationListView.as_view(),
        name="connections-recommendations",
    ),
    path("connections/scan/", connection_views.ConnectionScanView.as_view(), name="connections-scan"),
    path("connections/<int:pk>/", connection_views.ConnectionDetailView.as_view(), name="connections-detail"),
    path("connections/<int:pk>/accept/", connection_views.ConnectionAcceptView.as_view(), name="connections-accept"),
    path("connections/<int:pk>/decline/", connection_views.ConnectionDeclineView.as_view(), name="connections-decline"),
]
