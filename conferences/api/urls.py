from django.urls import path

from conferences.api import organizers, schedule_documents, views

urlpatterns = [
    # First: every client polls these, and URL resolution tries patterns in order.
    path(
        "conferences/<slug:slug>/schedule.json",
        schedule_documents.ScheduleJsonView.as_view(),
        name="conference-schedule-json",
    ),
    path(
        "conferences/<slug:slug>/schedule.xml",
        schedule_documents.ScheduleXmlView.as_view(),
        name="conference-schedule-xml",
    ),
    path("conferences/", views.ConferenceListView.as_view(), name="conference-list"),
    path("conferences/<slug:slug>/", views.ConferenceDetailView.as_view(), name="conference-detail"),
    path(
        "conferences/<slug:slug>/schedule-import/",
        views.ScheduleImportView.as_view(),
        name="conference-schedule-import",
    ),
    path(
        "conferences/<slug:slug>/schedule-sync/",
        views.ScheduleSyncView.as_view(),
        name="conference-schedule-sync",
    ),
    path("conferences/<slug:slug>/sessions/", views.SessionListView.as_view(), name="session-list"),
    path(
        "conferences/<slug:slug>/sessions/<int:session_id>/", views.SessionDetailView.as_view(), name="session-detail"
    ),
    path(
        "conferences/<slug:slug>/sessions/<int:session_id>/bookmark/",
        views.SessionBookmarkView.as_view(),
        name="session-bookmark",
    ),
    path("conferences/<slug:slug>/speakers/", views.SpeakerListView.as_view(), name="speaker-list"),
    path(
        "conferences/<slug:slug>/speakers/<int:speaker_id>/", views.SpeakerDetailView.as_view(), name="speaker-detail"
    ),
    path("conferences/<slug:slug>/rooms/", views.RoomListView.as_view(), name="room-list"),
    path("conferences/<slug:slug>/rooms/<int:room_id>/", views.RoomDetailView.as_view(), name="room-detail"),
    path("conferences/<slug:slug>/tracks/", views.TrackListView.as_view(), name="track-list"),
    path("conferences/<slug:slug>/tracks/<int:track_id>/", views.TrackDetailView.as_view(), name="track-detail"),
    path("conferences/<slug:slug>/my-agenda/", views.MyAgendaView.as_view(), name="my-agenda"),
    path("conferences/<slug:slug>/schedule.ics", views.ScheduleIcsView.as_view(), name="conference-ics"),
    path("conferences/<slug:slug>/attendance/", views.AttendanceView.as_view(), name="attendance"),
    path("conferences/<slug:slug>/attendance/badge.png", views.BadgeView.as_view(), name="attendance-badge"),
    path("conferences/<slug:slug>/check-ins/", views.CheckInView.as_view(), name="conference-check-in"),
    path("conferences/<slug:slug>/organizers/", organizers.OrganizerListView.as_view(), name="conference-organizers"),
    path(
        "conferences/<slug:slug>/organizers/<int:user_id>/",
        organizers.OrganizerDetailView.as_view(),
        name="conference-organizer",
    ),
    path("users/me/calendar/", views.MyCalendarView.as_view(), name="users-me-calendar"),
]
