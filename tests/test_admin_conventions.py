"""
Django admin conventions every ModelAdmin keeps, checked by walking
``admin.site._registry`` so a new admin cannot forget them:

* a foreign key to a model that grows past a few hundred rows (people,
  sessions, speakers, events, …) is picked from a searchable list
  (``autocomplete_fields``) or by id (``raw_id_fields``), never from a
  ``<select>`` that loads every row, wherever the admin lets it be edited;
* the changelist of every conference-scoped model filters by conference,
  and that filter works.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.db import models
from django.test import Client, RequestFactory

from conferences.models import Conference
from tests.factories import AdminUserFactory, ConferenceFactory

pytestmark = pytest.mark.django_db

# Models that stay small (a handful per conference): a plain <select> is fine for them.
SMALL = {
    "auth.Group",
    "auth.Permission",
    "contenttypes.ContentType",
    "conferences.Conference",
    "conferences.Room",
    "conferences.Track",
    "quests.Quest",
    "quests.Task",
    "quests.Reward",
    "meetings.MeetingWindow",
    "meetings.MeetingTable",
    "django_celery_beat.IntervalSchedule",
    "django_celery_beat.CrontabSchedule",
    "django_celery_beat.SolarSchedule",
    "django_celery_beat.ClockedSchedule",
}
# Scoped to a conference by data rather than by a foreign key: the filter is a SimpleListFilter named "conference".
SCOPED_BY_DATA = {"broadcasts.Broadcast"}


def _superuser_request():
    request = RequestFactory().get("/admin/")
    request.user = AdminUserFactory(is_superuser=True)
    return request


def _big_foreign_keys(model) -> list[models.ForeignKey]:
    return [
        field
        for field in model._meta.fields
        if isinstance(field, models.ForeignKey) and field.related_model._meta.label not in SMALL
    ]


def _editable_forms(model_admin, request):
    """The form classes in which the admin lets a person type values: add and change, or an inline's."""
    if isinstance(model_admin, admin.options.InlineModelAdmin):
        if model_admin.has_add_permission(request, None) or model_admin.has_change_permission(request, None):
            yield "inline", model_admin.get_formset(request, None).form
        return
    if model_admin.has_add_permission(request):
        yield "add", model_admin.get_form(request, None, change=False)
    if model_admin.has_change_permission(request, None):
        yield "change", model_admin.get_form(request, model_admin.model(), change=True)


def _admins_and_inlines(request):
    for model, model_admin in admin.site._registry.items():
        yield model, model_admin
        for inline in model_admin.get_inline_instances(request, None):
            yield inline.model, inline


def _offenders(admins, request) -> list[str]:
    """The editable foreign keys to big models that the admins render as a plain <select>."""
    offenders = set()
    for model, model_admin in admins:
        picked = set(model_admin.autocomplete_fields) | set(model_admin.raw_id_fields)
        for field in _big_foreign_keys(model):
            for form_name, form in _editable_forms(model_admin, request):
                if field.name in form.base_fields and field.name not in picked:
                    offenders.add(f"{type(model_admin).__name__}.{field.name} ({form_name} form)")
    return sorted(offenders)


def test_every_editable_foreign_key_to_a_big_model_is_searchable_or_by_id():
    request = _superuser_request()
    offenders = _offenders(_admins_and_inlines(request), request)
    assert not offenders, "add to autocomplete_fields or raw_id_fields: " + ", ".join(offenders)


def test_the_walk_catches_plain_selects_of_people_and_conference_rows_without_a_filter():
    """Negative control: an attendance admin with neither autocomplete nor a conference filter is reported."""
    from conferences.models import Attendance

    class PlainAttendanceAdmin(admin.ModelAdmin):
        fields = ["conference", "user", "checked_in_by"]
        readonly_fields = ["checked_in_by"]

    request = _superuser_request()
    plain = PlainAttendanceAdmin(Attendance, admin.site)

    assert _offenders([(Attendance, plain)], request) == [
        "PlainAttendanceAdmin.user (add form)",
        "PlainAttendanceAdmin.user (change form)",
    ]
    assert _conference_path(Attendance) == "conference"
    assert _conference_filter(Attendance, plain) is None


def _conference_path(model, *, depth: int = 3, seen: tuple = ()) -> str | None:
    """The shortest foreign-key path from ``model`` to Conference (not through people), or ``None``."""
    if model is Conference:
        return None
    paths = []
    for field in model._meta.fields:
        if not isinstance(field, models.ForeignKey):
            continue
        target = field.related_model
        if target is Conference:
            return field.name
        if depth > 1 and target not in seen and target is not apps.get_model("users", "User"):
            rest = _conference_path(target, depth=depth - 1, seen=(*seen, model))
            if rest:
                paths.append(f"{field.name}__{rest}")
    return min(paths, key=len) if paths else None


def _conference_filter(model, model_admin) -> str | None:
    """The query parameter of the admin's conference list filter, or ``None`` when it has none."""
    for entry in model_admin.list_filter:
        path = entry[0] if isinstance(entry, tuple) else entry
        if isinstance(path, str):
            fields = get_fields_from_path(model, path)
            if fields[-1].is_relation and fields[-1].related_model is Conference:
                return f"{path}__id__exact"
        elif (
            isinstance(path, type) and issubclass(path, admin.SimpleListFilter) and path.parameter_name == "conference"
        ):
            return "conference"
    return None


def test_every_conference_scoped_changelist_filters_by_conference():
    scoped = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if _conference_path(model) or model._meta.label in SCOPED_BY_DATA
    }
    assert {"events.Event", "quests.Submission", "live.Question", "broadcasts.Broadcast"} <= {
        m._meta.label for m in scoped
    }
    missing = [m._meta.label for m, model_admin in scoped.items() if _conference_filter(m, model_admin) is None]
    assert not missing, f"add a conference list filter to the admins of: {', '.join(sorted(missing))}"

    conference = ConferenceFactory()
    client = Client()
    client.force_login(AdminUserFactory(is_superuser=True))
    for model, model_admin in scoped.items():
        parameter = _conference_filter(model, model_admin)
        value = conference.slug if parameter == "conference" else conference.pk
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        response = client.get(url, {parameter: value})
        # An unknown lookup would redirect to ?e=1.
        assert response.status_code == 200, (url, parameter, response.status_code)
