from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ibw.api import IsAuthenticatedUser
from uploads import services
from uploads.api import serializers as s
from uploads.selectors import access_upload, upload_url


def _absolute(request: Request, url: str) -> str:
    return request.build_absolute_uri(url) if url.startswith("/") else url


class UploadCreateView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="uploads_create",
        request=s.UploadCreateInputSerializer,
        responses={
            201: s.UploadTargetSerializer,
            413: OpenApiResponse(description="Over 5 MB (avatar) or 10 MB (proof)"),
            415: OpenApiResponse(description="Not image/jpeg, image/png or image/webp"),
            429: OpenApiResponse(description="20 uploads of the caller not yet completed (RATE_LIMITED)"),
        },
        description="Where and how to send the bytes directly: a presigned POST (S3, R2; send `fields`, then the "
        "file as the form field `file`), a SAS URL for PUT (Azure; send `headers`), or a one-time URL on IBW "
        "itself for PUT (local storage). The URL is the credential (no JWT) and expires at `expires_at`.",
        tags=["uploads"],
    )
    def post(self, request: Request) -> Response:
        data = s.UploadCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload, target = services.create_upload(request.user, **data.validated_data)
        body = {
            "id": upload.pk,
            "method": target.method,
            "url": _absolute(request, target.url),
            "fields": target.fields,
            "headers": target.headers,
            "expires_at": upload.expires_at,
        }
        return Response(s.UploadTargetSerializer(body).data, status=201)


class UploadCompleteView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="uploads_complete",
        request=None,
        responses={200: s.UploadReadySerializer},
        description="Check that the object exists, has the declared size and is an image of the declared type "
        "(by its bytes). 400 UPLOAD_INVALID naming why (the object is deleted); 409 UPLOAD_USED once used.",
        tags=["uploads"],
    )
    def post(self, request: Request, upload_id: int) -> Response:
        upload = services.complete_upload(access_upload(request.user, upload_id))
        body = {"id": upload.pk, "status": upload.status, "url": _absolute(request, upload_url(upload))}
        return Response(s.UploadReadySerializer(body).data)


class LocalUploadReceiveView(APIView):
    """
    Local storage's stand-in for a presigned URL: the signed token is the
    credential, so no JWT, no CSRF, no per-address throttle (a venue's NAT).
    The body is read from the WSGI stream in chunks, never whole into memory.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes: list = []

    @extend_schema(
        operation_id="uploads_local_receive",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={204: None},
        description="Local storage only: the file's bytes as the request body, once, before the upload's "
        "`expires_at`. 403 when the URL is invalid or expired, 409 when it was already used, 413 over the "
        "declared size.",
        tags=["uploads"],
    )
    def put(self, request: Request, token: str) -> Response:
        length = request.META.get("CONTENT_LENGTH")
        services.receive_local_upload(
            token, stream=request._request, content_length=int(length) if length and length.isdigit() else None
        )
        return Response(status=204)
