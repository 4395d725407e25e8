"""
``schedule.json`` and ``schedule.xml``: the whole agenda as one document,
sent from the store (``conferences.documents``). A current document costs
no SQL query; revalidation reads only the stored tag.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from conferences import documents

TAGS = ["conferences"]


def tag_matches(request, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or ``*``); weak comparison, as RFC 9110 asks for it."""
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def accepts_gzip(request) -> bool:
    """Whether ``Accept-Encoding`` admits gzip (``gzip``, ``x-gzip`` or ``*``, with a q above zero)."""
    header = request.META.get("HTTP_ACCEPT_ENCODING", "")
    named: dict[str, float] = {}
    for item in header.split(","):
        token, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            if param.lower().startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if token:
            named[token.lower()] = quality
    for token in ("gzip", "x-gzip"):
        if token in named:
            return named[token] > 0
    return named.get("*", 0) > 0


_SCHEDULE_PARAMETERS = [
    OpenApiParameter(
        "If-None-Match", str, OpenApiParameter.HEADER, description="the ETag held; the current one answers 304"
    ),
    OpenApiParameter("Accept-Encoding", str, OpenApiParameter.HEADER, description="gzip for the compressed document"),
    OpenApiParameter(
        "ETag",
        str,
        OpenApiParameter.HEADER,
        response=[200, 304],
        description="the agenda's version (a gzip answer's tag ends in -gzip)",
    ),
    OpenApiParameter(
        "Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304], description="public, no-cache"
    ),
    OpenApiParameter("Vary", str, OpenApiParameter.HEADER, response=[200, 304], description="Accept-Encoding"),
    OpenApiParameter(
        "Content-Encoding", str, OpenApiParameter.HEADER, response=[200], description="gzip when accepted"
    ),
]
_NOT_MODIFIED = OpenApiResponse(description="Not modified: the If-None-Match tag is current. No body.")


class ScheduleDocumentView(APIView):
    """
    The whole agenda as one frab-compatible document, served from the store
    (``conferences.documents``): a current document costs no SQL query.
    Public and not throttled: a venue puts thousands of people behind a few
    addresses, and each answer is bytes read from Redis.
    """

    fmt = "json"
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    # One renderer (for errors): the views send the stored bytes themselves.
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        # The document has one media type; errors answer JSON whatever Accept says.
        return JSONRenderer(), JSONRenderer.media_type

    def get(self, request, slug: str) -> HttpResponse:
        encoding = "gzip" if accepts_gzip(request) else "plain"
        revalidating = "HTTP_IF_NONE_MATCH" in request.META
        document = documents.schedule_document(
            slug,
            fmt=self.fmt,
            encoding=encoding,
            unless=(lambda etag: tag_matches(request, etag)) if revalidating else None,
        )
        if document.body is None or tag_matches(request, document.etag):
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        elif request.method == "HEAD":
            response = HttpResponse(content_type=documents.CONTENT_TYPES[self.fmt])
            response["Content-Length"] = str(len(document.body))
        else:
            response = HttpResponse(document.body, content_type=documents.CONTENT_TYPES[self.fmt])
        if encoding == "gzip" and response.status_code == 200:
            response["Content-Encoding"] = "gzip"
        response["ETag"] = document.etag
        response["Cache-Control"] = "public, no-cache"
        response["Vary"] = "Accept-Encoding"
        return response


@extend_schema(tags=TAGS)
class ScheduleJsonView(ScheduleDocumentView):
    """
    ``schedule.json``: the whole agenda (frab/pretalx format; c3voc schema.json).
    Days are the conference's local dates; times carry its offset. ETag /
    If-None-Match → 304; ``Accept-Encoding: gzip`` → compressed.
    """

    fmt = "json"

    @extend_schema(
        operation_id="conferences_schedule_json",
        parameters=_SCHEDULE_PARAMETERS,
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The schedule.json document."),
            304: _NOT_MODIFIED,
        },
    )
    def get(self, request, slug: str) -> HttpResponse:
        return super().get(request, slug)


@extend_schema(tags=TAGS)
class ScheduleXmlView(ScheduleDocumentView):
    """
    ``schedule.xml``: the whole agenda as frab's XML (schedule.xml.xsd), the
    file offline apps such as Giggity and ConfClerk read. Same headers and
    304 as ``schedule.json``.
    """

    fmt = "xml"

    @extend_schema(
        operation_id="conferences_schedule_xml",
        parameters=_SCHEDULE_PARAMETERS,
        responses={
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.STR, description="The schedule.xml document."),
            304: _NOT_MODIFIED,
        },
    )
    def get(self, request, slug: str) -> HttpResponse:
        return super().get(request, slug)
