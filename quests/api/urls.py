from django.urls import path

from quests.api import views

# "submissions" before "<int:pk>": it is never read as a quest id.
urlpatterns = [
    path("quests/", views.QuestListView.as_view(), name="quests"),
    path("quests/submissions/", views.SubmissionListView.as_view(), name="quests-submissions"),
    path("quests/submissions/<int:pk>/review/", views.SubmissionReviewView.as_view(), name="quests-submission-review"),
    path("quests/<int:pk>/", views.QuestDetailView.as_view(), name="quests-detail"),
    path(
        "quests/<int:quest_id>/tasks/<int:task_id>/submissions/",
        views.SubmissionCreateView.as_view(),
        name="quests-task-submissions",
    ),
    path("users/me/points/", views.MyPointsView.as_view(), name="users-me-points"),
    path("leaderboard/", views.LeaderboardView.as_view(), name="leaderboard"),
]
