from django.urls import path

from broadcasts.api import views

urlpatterns = [
    path("admin/broadcasts/", views.BroadcastListCreateView.as_view(), name="broadcasts"),
    path("admin/broadcasts/preview/", views.BroadcastPreviewView.as_view(), name="broadcasts-preview"),
    path("admin/broadcasts/<int:pk>/", views.BroadcastDetailView.as_view(), name="broadcasts-detail"),
    path("admin/broadcasts/<int:pk>/cancel/", views.BroadcastCancelView.as_view(), name="broadcasts-cancel"),
]
