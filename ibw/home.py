"""``GET /``: what this server is and where to go next, instead of a 404."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views.decorators.http import require_safe

LINKS = {
    "docs": "/api/docs/",
    "schema": "/api/schema/",
    "api": "/api/v1/",
    "admin": "/admin/",
    "health": "/health",
}
NAME = "IBW backend"
ABOUT = "The conference week's API: agenda, side events, quests, networking, notifications."


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """JSON naming the service and its links; a small HTML page for a browser (``Accept: text/html``)."""
    if "text/html" in request.headers.get("Accept", ""):
        items = "".join(f'<li><a href="{escape(url)}">{escape(name)}</a></li>' for name, url in LINKS.items())
        return HttpResponse(
            f"<!doctype html><html><head><meta charset=utf-8><title>{NAME}</title></head>"
            f"<body><h1>{NAME}</h1><p>{escape(ABOUT)}</p><ul>{items}</ul></body></html>",
            content_type="text/html; charset=utf-8",
        )
    return JsonResponse({"service": NAME, "about": ABOUT, **LINKS})
