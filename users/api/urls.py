from django.urls import path

from users.api import views

urlpatterns = [
    path("auth/telegram/", views.TelegramLoginView.as_view(), name="auth-telegram"),
    path("auth/telegram/webapp/", views.TelegramWebAppLoginView.as_view(), name="auth-telegram-webapp"),
    path("auth/telegram/oidc/", views.TelegramOidcLoginView.as_view(), name="auth-telegram-oidc"),
    path("auth/telegram/bot-login/", views.BotLoginCreateView.as_view(), name="auth-bot-login"),
    path("auth/telegram/bot-login/<str:token>/", views.BotLoginPollView.as_view(), name="auth-bot-login-poll"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("users/me/enrich/", views.EnrichView.as_view(), name="users-me-enrich"),
    path("users/me/avatar/", views.AvatarView.as_view(), name="users-me-avatar"),
    path("users/<int:user_id>/", views.UserDetailView.as_view(), name="users-detail"),
]
