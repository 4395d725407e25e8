"""
ASGI entry point for Daphne: Django over HTTP, Channels over WebSocket.

WebSocket clients authenticate with a JWT in the query string (native apps
send no Origin header and no cookies), so no origin check applies.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ibw.settings")
django_asgi_app = get_asgi_application()

from ibw.metrics import clear_own_directory  # noqa: E402

clear_own_directory()  # Daphne is one process: its metric files start from zero with it

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 (Django must be set up first)

from ibw.routing import websocket_urlpatterns  # noqa: E402 (imports models)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
