from django.urls import path

from chats.api import views

urlpatterns = [
    path("conferences/<slug:slug>/chats/", views.ConferenceChatListView.as_view(), name="conference-chats"),
    path(
        "conferences/<slug:slug>/chats/<int:chat_id>/",
        views.ConferenceChatDetailView.as_view(),
        name="conference-chat-detail",
    ),
    path("events/<int:event_id>/chats/", views.EventChatListView.as_view(), name="event-chats"),
    path("events/<int:event_id>/chats/<int:chat_id>/", views.EventChatDetailView.as_view(), name="event-chat-detail"),
]
