"""
A fake LinkedIn profile provider: ``GET /profile?url=<profile URL>`` with
``Authorization: Bearer <key>`` answers the profile as JSON (name, headline,
summary, positions), 404 for a profile it does not know.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer

API_KEY = "linkedin-test-key"


class FakeLinkedIn(FakeServer):
    name = "fake-linkedin"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.profiles: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        super().reset()
        self.profiles = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/profile", self._profile)

    async def _profile(self, request: web.Request) -> web.Response:
        _, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"error": "Invalid API key"}, status=401)
        slug = request.query.get("url", "").rstrip("/").rsplit("/", 1)[-1].lower()
        profile = self.profiles.get(slug)
        if profile is None:
            return web.json_response({"error": "Profile not found"}, status=404)
        return web.json_response(profile)
