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
    path(
        "quests/<int:quest_id>/tasks/<int:task_id>/invite/",
        views.InviteView.as_view(),
        name="quests-task-invite",
    ),
    path("quests/<int:pk>/rewards/", views.RewardListView.as_view(), name="quests-rewards"),
    path("quests/<int:pk>/rewards/<int:rid>/claim/", views.RewardClaimView.as_view(), name="quests-reward-claim"),
    path("users/me/invited-by/", views.InvitedByView.as_view(), name="users-me-invited-by"),
    path("users/me/points/", views.MyPointsView.as_view(), name="users-me-points"),
    path("leaderboard/", views.LeaderboardView.as_view(), name="leaderboard"),
]
