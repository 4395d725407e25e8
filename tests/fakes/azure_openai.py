"""
A fake Azure OpenAI resource, answering only Azure's two chat completion paths:

- classic: ``POST /openai/deployments/{deployment}/chat/completions?api-version=<dated version>``;
- v1: ``POST /openai/v1/chat/completions`` with the deployment as ``model``.

Every call needs the ``api-key`` header (401 otherwise, as Azure answers); any
other path, an unknown deployment or a missing api-version is a 404, so a
call routed the OpenAI way fails the test. Completions are built as
``FakeOpenAI`` builds them; ``finish_reason = "content_filter"`` adds
Azure's ``content_filter_results`` to the choice, flagging the categories in
``filtered``. ``content_filter_error`` is the body of Azure's 400 for a
prompt its filter refused.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI

API_KEY = "azure-test-key-0123456789"
DEPLOYMENT = "ibw-gpt-4o-mini"
API_VERSION = "2024-10-21"
CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def content_filter_error(**flagged: str) -> dict[str, Any]:
    """Azure's 400 body when its filter refuses the prompt, ``flagged`` being category → severity."""
    return {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
            "policy. Please modify your prompt and retry.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": _results(flagged)},
        }
    }


def _results(flagged: dict[str, str]) -> dict[str, Any]:
    return {c: {"filtered": c in flagged, "severity": flagged.get(c, "safe")} for c in CATEGORIES}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FakeAzureOpenAI(FakeOpenAI):
    name = "fake-azure-openai"

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.filtered: dict[str, str] = {}

    @property
    def endpoint(self) -> str:
        """The value for ``AZURE_OPENAI_ENDPOINT`` (the resource, e.g. ``https://<name>.openai.azure.com/``)."""
        return f"{self.url}/"

    def reset(self) -> None:
        super().reset()
        self.filtered = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._classic)
        app.router.add_post("/openai/v1/chat/completions", self._v1)
        app.router.add_route("*", "/{tail:.*}", self._elsewhere)

    def completion_requests(self) -> list:
        return [r for r in self.requests if r.path.endswith("/chat/completions") and r.path.startswith("/openai/")]

    async def _elsewhere(self, request: web.Request) -> web.Response:
        await self.record(request)
        return _error(404, "404", "Resource not found")

    async def _classic(self, request: web.Request) -> web.Response:
        return await self._answer(request, request.match_info["deployment"], versioned=True)

    async def _v1(self, request: web.Request) -> web.Response:
        return await self._answer(request, None, versioned=False)

    async def _answer(self, request: web.Request, deployment: str | None, *, versioned: bool) -> web.Response:
        entry, trouble = await self.record(request)
        if trouble and trouble.status:
            return self.trouble_response(trouble)
        if request.headers.get("api-key") != API_KEY:
            return _error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource.",
            )
        if versioned and request.query.get("api-version") != API_VERSION:
            return _error(404, "404", "Resource not found")
        if deployment is None:
            deployment = (entry.body or {}).get("model")
        if deployment != DEPLOYMENT:
            return _error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        if self.finish_reason == "content_filter":
            return self.completion_response(entry, content_filter_results=_results(self.filtered))
        return self.completion_response(entry)
