from django.urls import path

from privacy.api import views

# Included before users' URLs (ibw/urls.py): this ``users/me/`` view is users' one plus DELETE.
urlpatterns = [
    path("users/me/", views.MeView.as_view(), name="users-me"),
    path("users/me/export/", views.ExportView.as_view(), name="users-me-export"),
]
