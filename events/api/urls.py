from django.urls import path

from events.api import views

urlpatterns = [
    path("events/", views.EventListView.as_view(), name="event-list"),
    path("events/<int:event_id>/", views.EventDetailView.as_view(), name="event-detail"),
    path("events/<int:event_id>/rsvp/", views.EventRSVPView.as_view(), name="event-rsvp"),
    path("events/<int:event_id>/messages/", views.EventMessageView.as_view(), name="event-messages"),
    path("events/<int:event_id>/rsvps/", views.EventRSVPListView.as_view(), name="event-rsvp-list"),
    path("events/<int:event_id>/check-ins/", views.EventCheckInView.as_view(), name="event-check-in"),
]
