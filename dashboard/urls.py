"""Admin pages of the dashboard app, mounted under ``admin/`` before the admin site's own URLs."""

from django.contrib import admin
from django.urls import path

from dashboard.views import conference_dashboard_view

urlpatterns = [
    path(
        "conferences/conference/<int:conference_id>/dashboard/",
        admin.site.admin_view(conference_dashboard_view),
        name="admin-conference-dashboard",
    ),
]
