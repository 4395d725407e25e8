"""A pretalx-like server of one ``schedule.json``, with an ETag and 304 answers to ``If-None-Match``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer


class FakeScheduleServer(FakeServer):
    name = "fake-schedule"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.body: bytes = b"{}"
        self.content_type = "application/json"

    def publish(self, data: Any) -> None:
        """Serve ``data`` (JSON-encoded unless bytes) from now on."""
        self.body = data if isinstance(data, bytes) else json.dumps(data).encode()

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    @property
    def schedule_url(self) -> str:
        return f"{self.url}/democon/schedule/export/schedule.json"

    def reset(self) -> None:
        super().reset()
        self.body = b"{}"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/democon/schedule/export/schedule.json", self._schedule)

    async def _schedule(self, request: web.Request) -> web.StreamResponse:
        _, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        return web.Response(body=self.body, content_type=self.content_type, headers={"ETag": self.etag})
