"""The conference dashboard page of the Django admin (wrapped in ``admin.site.admin_view`` by ``dashboard.urls``)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from conferences.models import Conference
from dashboard.selectors import conference_dashboard

CHART_JS = "dashboard/vendor/chart.js/chart.umd.min.js"


def conference_dashboard_view(request, conference_id: int):
    """
    One conference at a glance: charts drawn in the browser by the vendored
    Chart.js from the figures in a JSON script tag, with the same figures in
    tables under each chart. The conference comes from the Conference admin's
    own queryset and view permission, so whoever may not see it gets a 404.
    """
    conference_admin = admin.site.get_model_admin(Conference)
    if not conference_admin.has_view_permission(request):
        raise Http404
    conference = get_object_or_404(conference_admin.get_queryset(request), pk=conference_id)
    if not conference_admin.has_view_permission(request, conference):
        raise Http404
    data = conference_dashboard(conference)
    context = {
        **admin.site.each_context(request),
        "opts": Conference._meta,
        "title": f"{conference.name}: dashboard",
        "conference": conference,
        "data": data,
        "chart_js": _chart_library_url(),
        "hour_rows": list(
            zip(data["hourly"]["labels"], data["hourly"]["registered"], data["hourly"]["checked_in"], strict=True)
        ),
        # Horizontal bar charts grow with their rows, so labels stay readable.
        "heights": {
            "events": _height(len(data["events"])),
            "broadcasts": _height(len(data["broadcasts"]), base=90, row=44),
        },
        "funnels": [{**funnel, "height": _height(len(funnel["stages"]), base=40)} for funnel in data["funnels"]],
    }
    return TemplateResponse(request, "admin/dashboard/conference_dashboard.html", context)


def _height(rows: int, *, base: int = 70, row: int = 30) -> int:
    return max(140, base + row * rows)


def _chart_library_url() -> str | None:
    """The vendored Chart.js's static URL, or ``None`` when the build did not vendor it (the page shows its tables)."""
    try:
        # The manifest storage (DEBUG off) raises for a file collectstatic never saw.
        return staticfiles_storage.url(CHART_JS)
    except ValueError:
        return None
