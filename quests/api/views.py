from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.organizers import IsAdminOrCoOrganizer, check_manages, managed_conference_ids, organizes_any
from conferences.selectors import access_conference
from ibw.api import IsAuthenticatedUser, IsUserOrAdmin, PageNumberPagination, actor, is_admin
from quests.api import serializers as s
from quests.models import Reward
from quests.selectors import (
    access_invite_task,
    access_quest,
    access_reward,
    access_submission,
    access_task,
    invite_progress_for,
    leaderboard_for,
    points_history,
    points_total,
    quests_visible_to,
    rewards_of,
    submissions_for_review,
    task_statuses_for,
)
from quests.services import (
    accept_invite,
    claim_reward,
    create_quest,
    create_reward,
    invite_code_for,
    invite_link,
    review_submission,
    submit_task,
)


class ReadUserWriteManager(IsUserOrAdmin):
    """
    Logged-in users read; admins and co-organizers write (the view then checks
    that the quest's conference is one the co-organizer organizes).
    """

    message = "Only admins and conference organizers may do this."

    def has_permission(self, request: Request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return super().has_permission(request, view)
        return is_admin(request) or organizes_any(request.user)


class QuestListView(generics.ListAPIView):
    permission_classes = [ReadUserWriteManager]
    serializer_class = s.QuestSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self):
        filters = s.QuestFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return quests_visible_to(
            actor(self.request),
            include_inactive=is_admin(self.request),
            conference=filters.validated_data.get("conference"),
        )

    def get_serializer_context(self) -> dict:
        return {
            **super().get_serializer_context(),
            "statuses": getattr(self, "statuses", {}),
            "progress": getattr(self, "progress", {}),
        }

    @extend_schema(
        operation_id="quests_list", parameters=[OpenApiParameter("conference", str, description="Conference slug")]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        # The caller's statuses for the page's tasks, in one query.
        self.statuses = task_statuses_for(actor(request), page)
        self.progress = invite_progress_for(actor(request), page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="quests_create", request=s.QuestCreateInputSerializer, responses={201: s.QuestSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.QuestCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conference = data.validated_data.get("conference")
        # A quest without a conference is everyone's: admins only.
        check_manages(request, conference_id=conference.pk if conference is not None else None)
        if (prerequisite := data.validated_data.get("prerequisite")) is not None:
            # Nor may a co-organizer chain their quest to another conference's.
            check_manages(request, conference_id=prerequisite.conference_id)
        quest = create_quest(**data.validated_data)
        quest = access_quest(None, quest.pk, include_inactive=True)
        return Response(s.QuestSerializer(quest, context={"request": request}).data, status=201)


class QuestDetailView(APIView):
    permission_classes = [IsUserOrAdmin]

    @extend_schema(operation_id="quests_retrieve", responses=s.QuestSerializer)
    def get(self, request: Request, pk: int) -> Response:
        quest = access_quest(actor(request), pk, include_inactive=is_admin(request))
        context = {
            "request": request,
            "statuses": task_statuses_for(actor(request), [quest]),
            "progress": invite_progress_for(actor(request), [quest]),
        }
        return Response(s.QuestSerializer(quest, context=context).data)


class SubmissionCreateView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="quests_tasks_submissions_create",
        request=s.SubmissionCreateInputSerializer,
        responses={201: s.SubmissionResultSerializer},
        description="`answer` for code and quiz tasks, `proof_url`, `text` or `upload` (a completed upload of "
        "purpose proof, for kind photo) for proof tasks, nothing for the rest. "
        "Errors: 400 WRONG_ANSWER, 409 ALREADY_COMPLETED / QUEST_CLOSED / QUEST_LOCKED / SUBMISSION_PENDING / "
        "UPLOAD_USED / UPLOAD_NOT_READY, 404 for someone else's upload, "
        "429 RATE_LIMITED after 5 wrong answers to a task in 10 minutes.",
    )
    def post(self, request: Request, quest_id: int, task_id: int) -> Response:
        task = access_task(request.user, quest_id=quest_id, task_id=task_id)
        data = s.SubmissionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = submit_task(task, user=request.user, **data.validated_data)
        return Response(s.SubmissionResultSerializer(submission).data, status=201)


class SubmissionListView(generics.ListAPIView):
    """Submissions to review: all of them for admins, their conferences' for co-organizers."""

    permission_classes = [IsAdminOrCoOrganizer]
    serializer_class = s.SubmissionSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self):
        filters = s.SubmissionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return submissions_for_review(
            status=filters.validated_data.get("status"),
            quest_id=filters.validated_data.get("quest"),
            conference_ids=None if is_admin(self.request) else managed_conference_ids(self.request.user),
        )

    @extend_schema(operation_id="quests_submissions_list", parameters=[s.SubmissionFilterSerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class SubmissionReviewView(APIView):
    permission_classes = [IsAdminOrCoOrganizer]

    @extend_schema(
        operation_id="quests_submissions_review",
        request=s.SubmissionReviewInputSerializer,
        responses=s.SubmissionSerializer,
        description="Approve or reject a pending submission; the user is notified. 409 ALREADY_REVIEWED when decided.",
    )
    def post(self, request: Request, pk: int) -> Response:
        submission = access_submission(pk)
        check_manages(request, conference_id=submission.task.quest.conference_id)
        data = s.SubmissionReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = review_submission(submission, reviewer=actor(request), **data.validated_data)
        return Response(s.SubmissionSerializer(submission, context={"request": request}).data)


class MyPointsView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(operation_id="users_me_points", responses=s.PointsSerializer)
    def get(self, request: Request) -> Response:
        entries = points_history(request.user)
        total = points_total(request.user)
        return Response({"total": total, "results": s.PointsEntrySerializer(entries, many=True).data})


class LeaderboardView(APIView):
    permission_classes = [IsUserOrAdmin]

    @extend_schema(
        operation_id="leaderboard",
        parameters=[s.LeaderboardQuerySerializer],
        responses=s.LeaderboardSerializer,
        description="Standard competition ranking (1, 2, 2, 4). Header `X-Leaderboard-Source` says `redis` or `sql`.",
    )
    def get(self, request: Request) -> Response:
        query = s.LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        slug = query.validated_data.get("conference")
        board = leaderboard_for(
            access_conference(slug) if slug else None,
            limit=query.validated_data["limit"],
            user=actor(request),
            day=query.validated_data.get("day"),
        )
        body = {
            "results": s.LeaderboardRowSerializer(board.rows, many=True, context={"request": request}).data,
            "me": s.StandingSerializer(board.me).data if board.me else None,
        }
        return Response(body, headers={"X-Leaderboard-Source": board.source})


class InviteView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="quests_tasks_invite",
        responses=s.InviteSerializer,
        description="The caller's invite code and bot link, the same every time; 404 for a task that is not `invite`.",
    )
    def get(self, request: Request, quest_id: int, task_id: int) -> Response:
        access_invite_task(request.user, quest_id=quest_id, task_id=task_id)
        code = invite_code_for(request.user)
        return Response({"code": code.code, "link": invite_link(code)})


class InvitedByView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="users_me_invited_by",
        request=s.InvitedByInputSerializer,
        responses={201: s.InvitationSerializer, 200: s.InvitationSerializer},
        description="Record who invited the caller: 201; the same inviter again 200; another inviter 409 "
        "ALREADY_INVITED; one's own or an unknown code 400.",
    )
    def post(self, request: Request) -> Response:
        data = s.InvitedByInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, created = accept_invite(request.user, **data.validated_data)
        body = s.InvitationSerializer(invitation, context={"request": request}).data
        return Response(body, status=201 if created else 200)


class RewardListView(generics.ListAPIView):
    permission_classes = [ReadUserWriteManager]
    serializer_class = s.RewardSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no quest in the path
            return Reward.objects.none()
        quest = access_quest(actor(self.request), self.kwargs["pk"], include_inactive=is_admin(self.request))
        return rewards_of(quest)

    @extend_schema(operation_id="quests_rewards_list")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="quests_rewards_create", request=s.RewardCreateInputSerializer, responses={201: s.RewardSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        quest = access_quest(None, pk, include_inactive=True)
        check_manages(request, conference_id=quest.conference_id)
        data = s.RewardCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reward = create_reward(quest, **data.validated_data)
        return Response(s.RewardSerializer(rewards_of(quest).get(pk=reward.pk)).data, status=201)


class RewardClaimView(APIView):
    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        operation_id="quests_rewards_claim",
        request=None,
        responses={201: s.RewardClaimSerializer, 200: s.RewardClaimSerializer},
        description="201 with a new claim code, 200 with the caller's existing claim; 409 QUEST_NOT_COMPLETED, "
        "409 OUT_OF_STOCK.",
    )
    def post(self, request: Request, pk: int, rid: int) -> Response:
        reward = access_reward(access_quest(request.user, pk), rid)
        claim, created = claim_reward(reward, user=request.user)
        return Response(s.RewardClaimSerializer(claim).data, status=201 if created else 200)
