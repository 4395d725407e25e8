"""
What the fake HTTP servers share: an aiohttp app served from a thread with
its own event loop on 127.0.0.1, a log of the requests it received, and
scripted trouble (error statuses, slow answers) for the next requests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ibw.embedded import free_port


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Trouble:
    """Answer the next ``remaining`` requests with ``status`` (and ``body``), after ``delay`` seconds."""

    status: int | None = None
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int = 1


class FakeServer:
    name = "fake"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Request] = []
        self.troubles: list[Trouble] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.troubles.clear()

    def trouble(
        self,
        status: int | None = None,
        body: Any = None,
        *,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Script the next ``times`` requests: an error ``status`` and/or a ``delay`` before answering."""
        with self._lock:
            self.troubles.append(Trouble(status, body, delay, headers or {}, times))

    async def record(self, request: web.Request) -> tuple[Request, Trouble | None]:
        """Log ``request`` and return the scripted trouble for it, if any (after its delay)."""
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode(errors="replace")
        entry = Request(request.method, request.path, dict(request.query), dict(request.headers), body)
        with self._lock:
            self.requests.append(entry)
            trouble = next((t for t in self.troubles if t.remaining > 0), None)
            if trouble:
                trouble.remaining -= 1
        if trouble and trouble.delay:
            await asyncio.sleep(trouble.delay)
        return entry, trouble

    @staticmethod
    def trouble_response(trouble: Trouble) -> web.Response:
        body = trouble.body if trouble.body is not None else {"error": {"message": "scripted failure"}}
        if isinstance(body, str):
            return web.Response(text=body, status=trouble.status, headers=trouble.headers)
        return web.json_response(body, status=trouble.status, headers=trouble.headers)

    # --- lifecycle -----------------------------------------------------------

    def start(self):
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            self.routes(app)
            runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} server did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
