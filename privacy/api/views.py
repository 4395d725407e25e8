from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from ibw.api import IsAuthenticatedUser
from privacy.selectors import export_user
from privacy.services import erase_user
from users.api.views import MeView as UsersMeView


class MeView(UsersMeView):
    """
    The caller's profile (``users``), and its erasure: ``DELETE`` is served
    here because erasing reads every app, and ``users`` sits below them all.
    """

    permission_classes: list[type[BasePermission]] = [IsAuthenticatedUser]

    @extend_schema(
        request=None,
        responses={204: OpenApiResponse(description="The caller's account and personal data are erased")},
        tags=["users"],
        description=(
            "Erase the caller: profile, avatar, Telegram link, bookmarks, attendance, RSVPs (a freed seat "
            "promotes the waitlist), connections, blocks, meetings (the other side is told it is cancelled), "
            "questions and votes, feedback, notifications, enrichment data. Points ledger rows and reward "
            "claims are kept without the person, who leaves every leaderboard. Every token stops working "
            "(401). A later Telegram login with the same id creates a new, empty account."
        ),
    )
    def delete(self, request):
        erase_user(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportView(APIView):
    """Everything stored about the caller, as one JSON document."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description=(
                    "`format`, `exported_at`, `user_id`, `profile`, then one list per kind of data: `attendance`, "
                    "`bookmarks`, `rsvps`, `submissions`, `points`, `connections`, `meetings`, `questions`, "
                    "`feedback`, `notifications` and the rest (see the README), each present even when empty"
                ),
            )
        },
        tags=["users"],
    )
    def get(self, request):
        response = Response(export_user(request.user))
        response["Content-Disposition"] = f'inline; filename="ibw-export-{request.user.pk}.json"'
        return response
