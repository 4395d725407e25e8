"""
A fake OpenAI-compatible server: ``POST /v1/chat/completions`` answering a
chat completion whose message content is whatever the test put in
``answer`` (a dict is sent as JSON text, a string as is, which is how tests
send malformed answers). Scripted errors and delays come from ``FakeServer``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, Request

API_KEY = "sk-test-openai-key"


class FakeOpenAI(FakeServer):
    name = "fake-openai"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.answer: Any = None
        self.refusal: str | None = None
        self.finish_reason = "stop"

    @property
    def base_url(self) -> str:
        """The value for ``OPENAI_BASE_URL``."""
        return f"{self.url}/v1"

    def reset(self) -> None:
        super().reset()
        self.answer = None
        self.refusal = None
        self.finish_reason = "stop"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)

    def completion_requests(self) -> list:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    async def _completions(self, request: web.Request) -> web.Response:
        entry, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}, status=401
            )
        return self.completion_response(entry)

    def completion_response(self, entry: Request, **choice_extra: Any) -> web.Response:
        """A chat completion carrying ``answer`` (or ``refusal``) and ``finish_reason``."""
        content = self.answer if isinstance(self.answer, str) or self.answer is None else json.dumps(self.answer)
        message: dict[str, Any] = {"role": "assistant", "content": None if self.refusal else content}
        message["refusal"] = self.refusal
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason, "logprobs": None}
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": (entry.body or {}).get("model", "gpt-test"),
                "choices": [{**choice, **choice_extra}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
            }
        )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Fake OpenAI chat completions server")
    parser.add_argument("--port", type=int, default=8082)
    args = parser.parse_args()
    fake = FakeOpenAI(args.port)
    fake.answer = {"summary": "A person.", "tags": ["python"], "openers": ["Hi!"]}
    app = web.Application()
    fake.routes(app)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)
