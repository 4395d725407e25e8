"""
Drop the cached agenda version (``selectors.remember_agenda_version``) when
anything the agenda shows is saved or deleted: at once, and again when the
transaction commits (a request in between may have cached the old
fingerprint again). Bulk writes (``bulk_update``, ``QuerySet.update()``,
as the schedule import uses) send no signal: they show within
``AGENDA_VERSION_SECONDS``. One slug lookup per saved row; no writes.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from conferences import selectors
from conferences.models import Conference, Room, Session, SessionSpeaker, Speaker, Track


def _forget(slug: str) -> None:
    selectors.forget_agenda_version(slug)
    transaction.on_commit(lambda: selectors.forget_agenda_version(slug))


def _forget_conference(conference_id: int | None) -> None:
    if conference_id is None:
        return
    slug = Conference.objects.filter(pk=conference_id).values_list("slug", flat=True).first()
    if slug is not None:
        _forget(slug)


def _conference_changed(sender, instance: Conference, **_: object) -> None:
    _forget(instance.slug)


def _part_changed(sender, instance, **_: object) -> None:
    _forget_conference(getattr(instance, "conference_id", None))


def _session_speaker_changed(sender, instance, **_: object) -> None:
    session = getattr(instance, "session", None) if isinstance(instance, SessionSpeaker) else instance
    _forget_conference(getattr(session, "conference_id", None))


def connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(_conference_changed, sender=Conference, dispatch_uid=f"agenda-version-conference-{signal}")
        for model in (Session, Room, Track, Speaker):
            signal.connect(_part_changed, sender=model, dispatch_uid=f"agenda-version-{model.__name__}-{signal}")
        signal.connect(_session_speaker_changed, sender=SessionSpeaker, dispatch_uid=f"agenda-version-ss-{signal}")
    m2m_changed.connect(_session_speaker_changed, sender=Session.speakers.through, dispatch_uid="agenda-version-m2m")
