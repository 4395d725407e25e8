from django.urls import path

from integrations.api import views

urlpatterns = [
    path("users/me/enrich/", views.EnrichView.as_view(), name="users-me-enrich"),
    path("integrations/telegram/webhook/", views.TelegramWebhookView.as_view(), name="telegram-webhook"),
]
