from django.urls import path

from live.api import views

SESSION = "conferences/<slug:slug>/sessions/<int:session_id>/"

urlpatterns = [
    path(f"{SESSION}questions/", views.QuestionListCreateView.as_view(), name="live-questions"),
    path(f"{SESSION}questions/<int:question_id>/vote/", views.QuestionVoteView.as_view(), name="live-question-vote"),
    path(
        f"{SESSION}questions/<int:question_id>/moderate/",
        views.QuestionModerateView.as_view(),
        name="live-question-moderate",
    ),
    path(f"{SESSION}polls/", views.PollListCreateView.as_view(), name="live-polls"),
    path(f"{SESSION}polls/<int:poll_id>/vote/", views.PollVoteView.as_view(), name="live-poll-vote"),
    path(f"{SESSION}polls/<int:poll_id>/close/", views.PollCloseView.as_view(), name="live-poll-close"),
    path(f"{SESSION}feedback/", views.FeedbackView.as_view(), name="live-feedback"),
]
