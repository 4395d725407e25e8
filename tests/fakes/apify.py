"""
A fake Apify API: ``POST /v2/acts/<actor>/run-sync-get-dataset-items`` runs
an X/Twitter scraper actor synchronously and answers its dataset items (the
posts of the handles in the input, each with its ``author``). The token is
checked like Apify does, from ``?token=`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer

TOKEN = "apify_api_test_token"


def tweet(handle: str, text: str, *, bio: str = "", name: str = "") -> dict[str, Any]:
    """One dataset item in the shape the tweet scraper actors produce."""
    return {
        "type": "tweet",
        "text": text,
        "createdAt": "Fri Nov 20 10:00:00 +0000 2026",
        "author": {"userName": handle, "name": name or handle, "description": bio, "followers": 120},
    }


class FakeApify(FakeServer):
    name = "fake-apify"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.items: dict[str, list[dict[str, Any]]] = {}

    def reset(self) -> None:
        super().reset()
        self.items = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/acts/{actor}/run-sync-get-dataset-items", self._run_sync)

    async def _run_sync(self, request: web.Request) -> web.Response:
        entry, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)
        token = request.query.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token != TOKEN:
            return web.json_response(
                {
                    "error": {
                        "type": "user-or-token-not-found",
                        "message": "User was not found or authentication token is not valid",
                    }
                },
                status=401,
            )
        body = entry.body if isinstance(entry.body, dict) else {}
        handles = body.get("twitterHandles") or []
        limit = int(body.get("maxItems") or 20)
        items = [item for handle in handles for item in self.items.get(handle.lower(), [])][:limit]
        return web.json_response(items, status=201)
