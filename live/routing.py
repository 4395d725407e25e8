from django.urls import path

from live import consumers

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/", consumers.LiveSessionConsumer.as_asgi()),
]
