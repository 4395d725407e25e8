"""Live sessions over REST: questions, polls, feedback. The rules live in ``live.services``."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conferences.models import Session
from ibw.api import IsAuthenticatedUser, UserThrottle, actor, is_admin, unpaginated, unpaginated_schema
from live import selectors, services
from live.api import serializers as s
from live.errors import NotModerator
from live.moderators import may_moderate

ERROR = OpenApiResponse(description="Error body `{error, code, details?}`")
TAGS = ["live sessions"]


class QuestionThrottle(UserThrottle):
    """Questions asked, per person (``THROTTLE_LIVE_QUESTIONS``, 5 a minute), in Redis like every throttle."""

    scope = "live_questions"

    def get_rate(self) -> str:
        return settings.THROTTLE_LIVE_QUESTIONS


class IsUserOrAdmin(IsAuthenticatedUser):
    """A logged-in user or the admin key; whether they moderate this session is the view's check."""

    def has_permission(self, request: Request, view) -> bool:
        return is_admin(request) or super().has_permission(request, view)


def _moderates(request: Request, session: Session) -> bool:
    user = request.user if request.user.is_authenticated else None
    return may_moderate(session, user=user, is_admin=is_admin(request))


def _moderator_session(request: Request, slug: str, session_id: int) -> Session:
    session = selectors.access_live_session(slug, session_id)
    if not _moderates(request, session):
        raise NotModerator()
    return session


class QuestionListCreateView(APIView):
    """The session's questions (pinned, then most votes, then oldest); ask one."""

    permission_classes = [IsAuthenticatedUser]

    def get_throttles(self):
        throttles = super().get_throttles()
        return [*throttles, QuestionThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(
        parameters=[s.QuestionListFilterSerializer],
        responses={200: unpaginated_schema(s.QuestionSerializer), 404: ERROR},
        tags=TAGS,
    )
    def get(self, request: Request, slug: str, session_id: int) -> Response:
        filters = s.QuestionListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        session = selectors.access_live_session(slug, session_id)
        include_hidden = not filters.validated_data["projector"] and _moderates(request, session)
        questions = selectors.questions_for(session, user=request.user, include_hidden=include_hidden)
        return unpaginated(s.QuestionSerializer(questions, many=True, context={"request": request}).data)

    @extend_schema(
        request=s.QuestionCreateInputSerializer,
        responses={201: s.QuestionSerializer, 400: ERROR, 404: ERROR, 429: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, slug: str, session_id: int) -> Response:
        session = selectors.access_live_session(slug, session_id)
        data = s.QuestionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.ask_question(session, author=request.user, **data.validated_data)
        question = selectors.access_question(session, question.pk, user=request.user, include_hidden=True)
        return Response(s.QuestionSerializer(question, context={"request": request}).data, status=201)


class QuestionVoteView(APIView):
    """Upvote a question (once, however many requests race); take the vote back."""

    permission_classes = [IsAuthenticatedUser]

    def _question(self, request: Request, slug: str, session_id: int, question_id: int):
        session = selectors.access_live_session(slug, session_id)
        # A hidden question is there for its moderators only.
        return selectors.access_question(
            session, question_id, user=request.user, include_hidden=_moderates(request, session)
        )

    @extend_schema(request=None, responses={200: s.QuestionSerializer, 404: ERROR}, tags=TAGS)
    def post(self, request: Request, slug: str, session_id: int, question_id: int) -> Response:
        question = self._question(request, slug, session_id, question_id)
        services.vote_question(question, user=request.user)
        question = selectors.access_question(question.session, question.pk, user=request.user, include_hidden=True)
        return Response(s.QuestionSerializer(question, context={"request": request}).data)

    @extend_schema(request=None, responses={204: None, 404: ERROR}, tags=TAGS)
    def delete(self, request: Request, slug: str, session_id: int, question_id: int) -> Response:
        question = self._question(request, slug, session_id, question_id)
        services.unvote_question(question, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuestionModerateView(APIView):
    """Moderators: hide, answer, pin, unpin or reopen a question."""

    permission_classes = [IsUserOrAdmin]

    @extend_schema(
        request=s.QuestionModerateInputSerializer,
        responses={200: s.QuestionSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, slug: str, session_id: int, question_id: int) -> Response:
        session = _moderator_session(request, slug, session_id)
        data = s.QuestionModerateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = selectors.access_question(session, question_id, user=request.user, include_hidden=True)
        services.moderate_question(question, action=data.validated_data["action"], by=actor(request))
        question = selectors.access_question(session, question_id, user=request.user, include_hidden=True)
        return Response(s.QuestionSerializer(question, context={"request": request}).data)


class PollListCreateView(APIView):
    """The session's polls with their results; moderators open a poll."""

    permission_classes = [IsUserOrAdmin]

    @extend_schema(responses={200: unpaginated_schema(s.PollSerializer), 404: ERROR}, tags=TAGS)
    def get(self, request: Request, slug: str, session_id: int) -> Response:
        session = selectors.access_live_session(slug, session_id)
        return unpaginated(s.PollSerializer(selectors.polls_for(session, user=request.user), many=True).data)

    @extend_schema(
        request=s.PollCreateInputSerializer,
        responses={201: s.PollSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        tags=TAGS,
    )
    def post(self, request: Request, slug: str, session_id: int) -> Response:
        session = _moderator_session(request, slug, session_id)
        data = s.PollCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        poll = services.create_poll(session, by=actor(request), **data.validated_data)
        poll = selectors.access_poll(session, poll.pk, user=request.user)
        return Response(s.PollSerializer(poll).data, status=201)


class PollVoteView(APIView):
    """Vote on a poll; a second vote replaces the first."""

    permission_classes = [IsAuthenticatedUser]

    @extend_schema(
        request=s.PollVoteInputSerializer,
        responses={200: s.PollSerializer, 400: ERROR, 404: ERROR, 409: OpenApiResponse(description="POLL_CLOSED")},
        tags=TAGS,
    )
    def post(self, request: Request, slug: str, session_id: int, poll_id: int) -> Response:
        session = selectors.access_live_session(slug, session_id)
        poll = selectors.access_poll(session, poll_id, user=request.user)
        data = s.PollVoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.vote_poll(poll, user=request.user, option_id=data.validated_data["option"])
        poll = selectors.access_poll(session, poll_id, user=request.user)
        return Response(s.PollSerializer(poll).data)


class PollCloseView(APIView):
    """Moderators: close a poll (idempotent)."""

    permission_classes = [IsUserOrAdmin]

    @extend_schema(request=None, responses={200: s.PollSerializer, 403: ERROR, 404: ERROR}, tags=TAGS)
    def post(self, request: Request, slug: str, session_id: int, poll_id: int) -> Response:
        session = _moderator_session(request, slug, session_id)
        poll = selectors.access_poll(session, poll_id, user=request.user)
        services.close_poll(poll, by=actor(request))
        poll = selectors.access_poll(session, poll_id, user=request.user)
        return Response(s.PollSerializer(poll).data)


class FeedbackView(APIView):
    """Rate the session (checked-in people, once it started); moderators read the summary."""

    permission_classes = [IsUserOrAdmin]

    @extend_schema(responses={200: s.FeedbackSummarySerializer, 403: ERROR, 404: ERROR}, tags=TAGS)
    def get(self, request: Request, slug: str, session_id: int) -> Response:
        session = _moderator_session(request, slug, session_id)
        return Response(s.FeedbackSummarySerializer(selectors.feedback_summary(session)).data)

    @extend_schema(
        request=s.FeedbackInputSerializer,
        responses={
            201: s.FeedbackSerializer,
            200: OpenApiResponse(s.FeedbackSerializer, description="Your earlier feedback, replaced"),
            400: ERROR,
            403: OpenApiResponse(description="NOT_CHECKED_IN"),
            404: ERROR,
            409: OpenApiResponse(description="FEEDBACK_NOT_OPEN"),
        },
        tags=TAGS,
    )
    def post(self, request: Request, slug: str, session_id: int) -> Response:
        if not request.user.is_authenticated:  # the admin key is not a person who attended
            raise NotModerator("Only people checked in at the conference may rate its sessions.")
        session = selectors.access_live_session(slug, session_id)
        data = s.FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback, created = services.give_feedback(session, user=request.user, **data.validated_data)
        return Response(s.FeedbackSerializer(feedback).data, status=201 if created else 200)
