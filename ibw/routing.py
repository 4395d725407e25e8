"""WebSocket routes of every app."""

from live.routing import websocket_urlpatterns as live_routes
from notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes, *live_routes]
