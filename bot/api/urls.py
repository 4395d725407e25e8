from django.urls import path

from bot.api import views

urlpatterns = [
    # The path predates the bot app; Telegram has it registered (setWebhook), so it stays.
    path("integrations/telegram/webhook/", views.TelegramWebhookView.as_view(), name="telegram-webhook"),
]
