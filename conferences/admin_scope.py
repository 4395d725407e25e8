"""
Django admin for co-organizers: the site lets them in, and every
conference-scoped ModelAdmin shows and changes only their conferences' rows.

Who is who in Django admin:

- ``is_staff`` users are the admins of the API too; Django's own model
  permissions apply to them exactly as before (a superuser sees everything).
- A co-organizer (``conferences.ConferenceOrganizer``) who is not staff may
  log in; ``ConferenceScopedAdmin`` gives them view, add, change and delete on
  the rows of the conferences they organize, and nothing else: their
  querysets are filtered, foreign-key choices are limited to their
  conferences (and the rows of those conferences), and another conference's
  object answers 404 by URL. ModelAdmins that are not conference-scoped
  (users, connections, notifications, beat, ...) keep Django's permission
  checks, which a non-staff user never passes: they are hidden.

The layers above ``conferences`` (events, live, meetings, quests, broadcasts)
use the same mixins with the lookup from their model to its conference
(``conference_path``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import get_fields_from_path
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

from conferences.models import Conference
from conferences.organizers import managed_conference_ids, managed_conference_slugs, organizes_any


def is_site_admin(request) -> bool:
    """Staff: Django's own model permissions decide, as for every admin before co-organizers existed."""
    user = request.user
    return bool(user.is_active and user.is_staff)


def _once_per_request(request, name: str, compute):
    """``compute()``, kept on the request: one query however many permission checks a page makes."""
    attribute = f"_ibw_{name}"
    if not hasattr(request, attribute):
        setattr(request, attribute, frozenset(compute()))
    return getattr(request, attribute)


def managed_ids(request) -> frozenset[int]:
    """The conferences the logged-in user co-organizes, read once per request."""
    return _once_per_request(request, "managed_conference_ids", lambda: managed_conference_ids(request.user))


def managed_slugs(request) -> frozenset[str]:
    return _once_per_request(request, "managed_conference_slugs", lambda: managed_conference_slugs(request.user))


def conference_id_of(obj: Model, path: str) -> int | None:
    """Follow ``path`` (``"pk"``, ``"conference"``, ``"session__conference"``, ...) from ``obj`` to a conference id."""
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop, None)
        if obj is None:
            return None
    return obj.pk if last == "pk" else getattr(obj, f"{last}_id", None)


class CoOrganizerLoginForm(AdminAuthenticationForm):
    """Django admin's login, open to co-organizers as well as staff."""

    def confirm_login_allowed(self, user) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)
        if not (user.is_staff or organizes_any(user)):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class IBWAdminSite(admin.AdminSite):
    """The project's admin site (``ibw.admin_config``): staff, and co-organizers for their conferences."""

    login_form = CoOrganizerLoginForm

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_staff or (user.is_authenticated and managed_ids(request))))


def _scoped_foreignkey_kwargs(admin_site, db_field, request, kwargs: dict) -> dict:
    """Limit a foreign key's choices to the co-organizer's conferences (and those conferences' rows)."""
    if is_site_admin(request) or "queryset" in kwargs:
        return kwargs
    model = db_field.remote_field.model
    related_admin = admin_site._registry.get(model)
    if isinstance(related_admin, ConferenceScopedAdmin):
        kwargs["queryset"] = related_admin.scope_queryset(request, model._default_manager.all())
        if model is Conference:
            # A row without a conference (a global quest, a side event of no conference) is an admin's.
            kwargs["required"] = True
    return kwargs


class ConferenceScopedAdmin(admin.ModelAdmin):
    """
    A ModelAdmin whose rows belong to one conference each, reached by
    ``conference_path``. Staff keep Django's permissions; a co-organizer may
    view, add, change and delete the rows of their conferences (a subclass's
    own ``has_*_permission`` still narrows that, e.g. read-only ledgers).
    """

    conference_path = "conference"

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        """``queryset`` as the caller may see it: all of it for staff, their conferences' rows for a co-organizer."""
        if is_site_admin(request):
            return queryset
        return queryset.filter(**{f"{self.conference_path}__in": managed_ids(request)})

    def manages(self, request, obj: Model) -> bool:
        return conference_id_of(obj, self.conference_path) in managed_ids(request)

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not is_site_admin(request):
            # Another conference's row (or none at all): a plain 404, so existence does not leak.
            raise Http404("No such object among your conferences.")
        return obj

    def _co_organizer_may(self, request, obj=None) -> bool:
        return bool(managed_ids(request)) and (obj is None or self.manages(request, obj))

    def has_module_permission(self, request) -> bool:
        if is_site_admin(request):
            return super().has_module_permission(request)
        return bool(managed_ids(request))

    def has_view_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_view_permission(request, obj)
        return self._co_organizer_may(request, obj)

    def has_add_permission(self, request) -> bool:
        if is_site_admin(request):
            return super().has_add_permission(request)
        return self._co_organizer_may(request)

    def has_change_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_change_permission(request, obj)
        return self._co_organizer_may(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_delete_permission(request, obj)
        return self._co_organizer_may(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = _scoped_foreignkey_kwargs(self.admin_site, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        """
        For a co-organizer, a filter on a relation (``"conference"``,
        ``"session"``, ...) offers only the values among their rows, so the
        sidebar names no other conference's sessions, quests or events.
        """
        filters = super().get_list_filter(request)
        if is_site_admin(request):
            return filters
        return [_related_only(self.model, entry) for entry in filters]


def _related_only(model, entry):
    if isinstance(entry, str) and get_fields_from_path(model, entry)[-1].is_relation:
        return (entry, admin.RelatedOnlyFieldListFilter)
    return entry


class SlugScopedAdmin(ConferenceScopedAdmin):
    """Rows that name their conference by slug in a field or JSON key (``conference_path``, e.g. ``audience__conference``)."""

    def scope_queryset(self, request, queryset: QuerySet) -> QuerySet:
        if is_site_admin(request):
            return queryset
        return queryset.filter(**{f"{self.conference_path}__in": list(managed_slugs(request))})

    def manages(self, request, obj: Model) -> bool:
        value: object = obj
        for hop in self.conference_path.split("__"):
            value = value.get(hop) if isinstance(value, dict) else getattr(value, hop, None)
        return value in managed_slugs(request)


class ConferenceScopedInline(admin.options.InlineModelAdmin):
    """
    An inline under a ``ConferenceScopedAdmin``: the parent page is already
    limited to the co-organizer's conferences, so they may use the inline
    there; its foreign keys are limited like the parent's. Staff keep
    Django's permissions.
    """

    def has_view_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_view_permission(request, obj)
        return bool(managed_ids(request))

    def has_add_permission(self, request, obj) -> bool:
        if is_site_admin(request):
            return super().has_add_permission(request, obj)
        return bool(managed_ids(request))

    def has_change_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_change_permission(request, obj)
        return bool(managed_ids(request))

    def has_delete_permission(self, request, obj=None) -> bool:
        if is_site_admin(request):
            return super().has_delete_permission(request, obj)
        return bool(managed_ids(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs = _scoped_foreignkey_kwargs(self.admin_site, db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScopedTabularInline(ConferenceScopedInline, admin.TabularInline):
    pass


def conferences_for(request) -> QuerySet[Conference]:
    """The conferences the caller may pick in a custom admin page: all for staff, their own for a co-organizer."""
    conferences = Conference.objects.all()
    return conferences if is_site_admin(request) else conferences.filter(pk__in=managed_ids(request))
