"""WebSocket routes of every app."""

from notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes]
