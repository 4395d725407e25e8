from django.urls import path

from connections.api import views

urlpatterns = [
    path("users/<int:user_id>/block/", views.UserBlockView.as_view(), name="users-block"),
    # scan/ before <int:pk>/ so it is never read as an id.
    path("connections/", views.ConnectionListCreateView.as_view(), name="connections"),
    path("connections/scan/", views.ConnectionScanView.as_view(), name="connections-scan"),
    path("connections/<int:pk>/", views.ConnectionDetailView.as_view(), name="connections-detail"),
    path("connections/<int:pk>/accept/", views.ConnectionAcceptView.as_view(), name="connections-accept"),
    path("connections/<int:pk>/decline/", views.ConnectionDeclineView.as_view(), name="connections-decline"),
    # Under conferences/ but here: the directory hides blocked people, which conferences cannot know.
    path("conferences/<slug:slug>/attendees/", views.AttendeeListView.as_view(), name="attendee-list"),
]
