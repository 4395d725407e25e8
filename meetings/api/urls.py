from django.urls import path

from meetings.api import views

urlpatterns = [
    path(
        "conferences/<slug:slug>/meeting-windows/",
        views.MeetingWindowListCreateView.as_view(),
        name="meeting-windows",
    ),
    path("conferences/<slug:slug>/meeting-slots/", views.MeetingSlotListView.as_view(), name="meeting-slots"),
    path("meetings/", views.MeetingListCreateView.as_view(), name="meetings"),
    path("meetings/<int:pk>/", views.MeetingDetailView.as_view(), name="meetings-detail"),
    path("meetings/<int:pk>/accept/", views.MeetingAcceptView.as_view(), name="meetings-accept"),
    path("meetings/<int:pk>/decline/", views.MeetingDeclineView.as_view(), name="meetings-decline"),
    path("meetings/<int:pk>/cancel/", views.MeetingCancelView.as_view(), name="meetings-cancel"),
    # Moved here from connections: it offers each person a free meeting slot, which connections cannot know.
    path(
        "connections/recommendations/",
        views.RecommendationListView.as_view(),
        name="connections-recommendations",
    ),
    # The personal feed of sessions, events and meetings; the path is the contract's (no meetings/ prefix).
    path("calendar/<str:token>.ics", views.CalendarFeedView.as_view(), name="calendar-feed"),
]
