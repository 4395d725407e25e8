"""
Writes for conferences: schedule import, sessions, bookmarks, attendance,
check-in, the personal calendar secret and session reminders.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conferences import changes
from conferences.errors import ScheduleInvalid, ScheduleUnavailable
from conferences.models import (
    Attendance,
    AttendanceStatus,
    Bookmark,
    Conference,
    Room,
    Session,
    SessionSpeaker,
    Speaker,
    Track,
)
from conferences.schedule import ParsedPerson, ParsedSchedule, parse_schedule
from conferences.selectors import attendance_by_badge
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

# Session fields an import sets, by attribute name, in the order compared.
_IMPORTED_FIELDS = [
    "title",
    "abstract",
    "description",
    "starts_at",
    "ends_at",
    "room_id",
    "track_id",
    "type",
    "language",
    "url",
]
MAX_SCHEDULE_BYTES = 20 * 1024 * 1024


# --- Conferences ----------------------------------------------------------------


def create_conference(**fields: Any) -> Conference:
    conference = Conference(**fields)
    conference.full_clean()
    conference.save()
    return conference


def update_conference(conference: Conference, **fields: Any) -> Conference:
    for name, value in fields.items():
        setattr(conference, name, value)
    conference.full_clean()
    conference.save()
    return conference


# --- Schedule import ----------------------------------------------------------------


def _sync_rooms(conference: Conference, parsed: ParsedSchedule) -> dict[str, Room]:
    """Create the file's rooms that are missing, keyed by name (exporters may give rooms one shared guid)."""
    rooms = {room.name: room for room in Room.objects.filter(conference=conference)}
    next_position = max((room.position for room in rooms.values()), default=-1) + 1
    for name, guid in parsed.rooms:
        room = rooms.get(name)
        if room is None:
            rooms[name] = Room.objects.create(conference=conference, name=name, guid=guid, position=next_position)
            next_position += 1
        elif guid and not room.guid:
            room.guid = guid
            room.save(update_fields=["guid", "updated_at"])
    return rooms


def _sync_tracks(conference: Conference, parsed: ParsedSchedule) -> dict[str, Track]:
    tracks = {track.name: track for track in Track.objects.filter(conference=conference)}
    for name, color in parsed.tracks.items():
        track = tracks.get(name)
        if track is None:
            tracks[name] = Track.objects.create(conference=conference, name=name, color=color)
        elif color and track.color != color:
            track.color = color
            track.save(update_fields=["color", "updated_at"])
    return tracks


def _sync_speakers(conference: Conference, parsed: ParsedSchedule, *, now: datetime) -> dict[tuple, Speaker]:
    """
    Create or update the file's speakers: by guid or code, else by name.
    A field the file leaves out (frab gives no biography) keeps what the
    organizers entered; the link to a user account is never touched.
    """
    by_key: dict[tuple, Speaker] = {}
    for speaker in Speaker.objects.filter(conference=conference).order_by("id"):
        key = ("id", speaker.external_id) if speaker.external_id else ("name", speaker.name)
        by_key.setdefault(key, speaker)
    people: dict[tuple, ParsedPerson] = {}
    for event in parsed.events:
        for person in event.persons:
            people.setdefault(person.key, person)
    new: list[Speaker] = []
    changed: list[Speaker] = []
    for key, person in people.items():
        values: dict[str, Any] = {"name": person.name}
        if person.bio is not None:
            values["bio"] = person.bio
        if person.avatar_url is not None:
            values["avatar_url"] = person.avatar_url
        if person.links is not None:
            values["links"] = person.links
        speaker = by_key.get(key)
        if speaker is None:
            speaker = Speaker(conference=conference, external_id=person.external_id, updated_at=now, **values)
            by_key[key] = speaker
            new.append(speaker)
        elif any(getattr(speaker, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(speaker, name, value)
            speaker.updated_at = now
            changed.append(speaker)
    Speaker.objects.bulk_create(new)
    if changed:
        Speaker.objects.bulk_update(changed, ["name", "bio", "avatar_url", "links", "updated_at"])
    return by_key


def import_schedule(conference: Conference, data: Any) -> dict[str, int]:
    """
    Bring ``conference``'s agenda in line with a frab-compatible
    ``schedule.json`` (decoded) and return how many sessions were
    ``created``, ``updated``, ``unchanged`` and ``removed``.

    Sessions are keyed by (conference, event guid), so one file can feed
    several conferences and importing it again changes nothing; sessions not
    in the file are removed (their bookmarks with them). Rooms and tracks are
    keyed by name, speakers by guid or code, else name; none are removed.
    A file that fails validation raises ``ScheduleInvalid`` before any
    write. Everything else happens in one transaction holding the
    conference row's lock, so two imports of one conference run one after
    the other.
    """
    parsed = parse_schedule(data, default_timezone=conference.timezone)
    with transaction.atomic():
        Conference.objects.select_for_update().filter(pk=conference.pk).first()
        now = timezone.now()
        rooms = _sync_rooms(conference, parsed)
        tracks = _sync_tracks(conference, parsed)
        speakers = _sync_speakers(conference, parsed, now=now)

        existing = {session.guid: session for session in Session.objects.filter(conference=conference)}
        current_links: dict[int, list[int]] = defaultdict(list)
        for session_id, speaker_id in (
            SessionSpeaker.objects.filter(session__conference=conference)
            .order_by("session_id", "position", "id")
            .values_list("session_id", "speaker_id")
        ):
            current_links[session_id].append(speaker_id)

        counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
        room_names = {room.pk: room.name for room in rooms.values()}
        moves: list[tuple[Session, dict]] = []
        created: list[tuple[Session, list[int]]] = []
        updated: list[Session] = []
        relinked: dict[int, list[int]] = {}
        for event in parsed.events:
            values = {
                "title": event.title,
                "abstract": event.abstract,
                "description": event.description,
                "starts_at": event.starts_at,
                "ends_at": event.ends_at,
                "room_id": rooms[event.room].pk,
                "track_id": tracks[event.track].pk if event.track else None,
                "type": event.type,
                "language": event.language,
                "url": event.url,
            }
            speaker_ids = [speakers[person.key].pk for person in event.persons]
            session = existing.pop(event.guid, None)
            if session is None:
                session = Session(conference=conference, guid=event.guid, created_at=now, updated_at=now, **values)
                created.append((session, speaker_ids))
                continue
            fields_changed = any(getattr(session, name) != value for name, value in values.items())
            speakers_changed = current_links.get(session.pk, []) != speaker_ids
            if not (fields_changed or speakers_changed):
                counts["unchanged"] += 1
                continue
            before = changes.snapshot(session, room_name=room_names.get(session.room_id or 0))
            for name, value in values.items():
                setattr(session, name, value)
            moves.append((session, before))
            session.updated_at = now
            updated.append(session)
            if speakers_changed:
                relinked[session.pk] = speaker_ids

        removed_people = changes.bookmarker_ids(session.pk for session in existing.values())
        for session in existing.values():
            session.conference = conference
            changes.record_removal(
                session, before=changes.snapshot(session, room_name=room_names.get(session.room_id or 0))
            )
        for session, before in moves:
            session.conference = conference
            changes.record_move(
                session, before=before, after=changes.snapshot(session, room_name=room_names.get(session.room_id or 0))
            )
        if existing:
            Session.objects.filter(pk__in=[session.pk for session in existing.values()]).delete()
        Session.objects.bulk_create([session for session, _ in created])
        if updated:
            Session.objects.bulk_update(updated, [*_IMPORTED_FIELDS, "updated_at"])
        if relinked:
            SessionSpeaker.objects.filter(session_id__in=list(relinked)).delete()
        links = [
            SessionSpeaker(session_id=session_id, speaker_id=speaker_id, position=position)
            for session_id, speaker_ids in [*relinked.items(), *((s.pk, ids) for s, ids in created)]
            for position, speaker_id in enumerate(speaker_ids)
        ]
        SessionSpeaker.objects.bulk_create(links)
        counts["created"] = len(created)
        counts["updated"] = len(updated)
        counts["removed"] = len(existing)
        if created or updated or existing:
            # The conference's updated_at is part of every agenda ETag.
            Conference.objects.filter(pk=conference.pk).update(updated_at=now)
            changes.push_agenda_changed(conference, also=removed_people)
    logger.info("schedule_imported", conference=conference.slug, **counts)
    return counts


def load_schedule(source: str, *, timeout: float = 30.0) -> Any:
    """
    Return the decoded schedule at ``source``: an http(s) URL (fetched with
    httpx, redirects followed) or a file path. Raises ``ScheduleUnavailable``
    or ``ScheduleInvalid``.
    """
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ScheduleUnavailable(f"The schedule could not be fetched from {source}: {exc}") from exc
        content = response.content
    else:
        try:
            with open(source, "rb") as handle:
                content = handle.read(MAX_SCHEDULE_BYTES + 1)
        except OSError as exc:
            raise ScheduleUnavailable(f"The schedule file could not be read: {exc}") from exc
    return decode_schedule(content)


def decode_schedule(content: bytes) -> Any:
    if len(content) > MAX_SCHEDULE_BYTES:
        raise ScheduleInvalid(f"The schedule file is larger than {MAX_SCHEDULE_BYTES // (1024 * 1024)} MB.")
    try:
        return json.loads(content)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ScheduleInvalid(f"The schedule file is not JSON: {exc}") from exc


def conference_from_schedule(slug: str, data: Any) -> Conference:
    """Create the conference ``slug`` from a schedule file's title, dates and time zone."""
    parsed = parse_schedule(data)
    days = sorted(event.starts_at.date() for event in parsed.events)
    starts_on = parsed.starts_on or (days[0] if days else timezone.localdate())
    ends_on = max(parsed.ends_on or starts_on, starts_on)
    return create_conference(
        slug=slug,
        name=parsed.title or slug,
        timezone=parsed.time_zone_name or "UTC",
        starts_on=starts_on,
        ends_on=ends_on,
    )


# --- Sessions ---------------------------------------------------------------------


def _link_speakers(session: Session, speakers: list[Speaker]) -> None:
    SessionSpeaker.objects.filter(session=session).delete()
    SessionSpeaker.objects.bulk_create(
        [SessionSpeaker(session=session, speaker=speaker, position=i) for i, speaker in enumerate(speakers)]
    )


def create_session(
    conference: Conference, *, speakers: list[Speaker] | None = None, guid: str = "", **fields: Any
) -> Session:
    """Create a session by hand (a generated guid unless given), with ``speakers`` in order; pushes ``agenda_changed``."""
    with transaction.atomic():
        session = Session(conference=conference, guid=guid or str(uuid.uuid4()), **fields)
        session.full_clean(exclude=["speakers"])
        session.save()
        _link_speakers(session, speakers or [])
        changes.push_agenda_changed(conference)
    return session


def update_session(session: Session, *, speakers: list[Speaker] | None = None, **fields: Any) -> Session:
    """
    Edit ``session``. A move (start, end, room) is a schedule change: its
    bookmarkers are told after the debounce window (``conferences.changes``),
    and ``agenda_changed`` is pushed after commit. Locks the session row.
    """
    with transaction.atomic():
        stored = Session.objects.select_for_update(of=("self",)).select_related("room").get(pk=session.pk)
        before = changes.snapshot(stored)
        for name, value in fields.items():
            setattr(session, name, value)
        session.full_clean(exclude=["speakers"])
        session.save()
        if speakers is not None:
            _link_speakers(session, speakers)
        changes.record_move(session, before=before, after=changes.snapshot(session))
        changes.push_agenda_changed(session.conference)
    return session


def delete_session(session: Session) -> None:
    """Delete ``session``; its bookmarkers are told it is cancelled (debounced) and ``agenda_changed`` is pushed."""
    with transaction.atomic():
        stored = Session.objects.select_for_update(of=("self",)).select_related("room", "conference").get(pk=session.pk)
        people = changes.bookmarker_ids([stored.pk])
        changes.record_removal(stored, before=changes.snapshot(stored))
        stored.delete()
        changes.push_agenda_changed(stored.conference, also=people)


# --- Bookmarks ----------------------------------------------------------------------


def bookmark_session(session: Session, *, user: User) -> tuple[Bookmark, bool]:
    """Bookmark ``session`` for ``user``; return the bookmark and whether it is new. Idempotent under races."""
    try:
        with transaction.atomic():
            return Bookmark.objects.get_or_create(session=session, user=user)
    except IntegrityError:
        return Bookmark.objects.get(session=session, user=user), False


def unbookmark_session(session: Session, *, user: User) -> None:
    """Remove ``user``'s bookmark of ``session``, if any."""
    Bookmark.objects.filter(session=session, user=user).delete()


# --- Attendance ------------------------------------------------------------------------


def register_attendee(conference: Conference, *, user: User) -> tuple[Attendance, bool]:
    """
    Register ``user`` for ``conference`` with a fresh unguessable badge code;
    return the attendance and whether it is new. Registering again returns
    the existing attendance (also when two requests race).
    """
    existing = Attendance.objects.filter(conference=conference, user=user).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return Attendance.objects.create(conference=conference, user=user), True
    except IntegrityError:
        return Attendance.objects.get(conference=conference, user=user), False


def check_in_attendee(conference: Conference, *, badge_code: str, by: User | None) -> Attendance:
    """
    Mark the attendee with ``badge_code`` checked in at ``conference``,
    recording who (``by``; ``None`` for the admin key) and when.

    Idempotent: the first check-in's time and checker stay (a conditional
    UPDATE claims the change, so concurrent scans record one check-in).
    Raises ``NotFound`` for a code unknown at this conference.
    """
    attendance = attendance_by_badge(conference, badge_code)
    claimed = Attendance.objects.filter(pk=attendance.pk, status=AttendanceStatus.REGISTERED).update(
        status=AttendanceStatus.CHECKED_IN, checked_in_at=timezone.now(), checked_in_by=by
    )
    if claimed:
        logger.info("attendee_checked_in", conference=conference.slug, attendance=attendance.pk)
    attendance.refresh_from_db()
    return attendance


# --- Personal calendar ------------------------------------------------------------------


def rotate_calendar_token(user: User) -> str:
    """Give ``user`` a new calendar feed secret; the old feed URL stops working at once."""
    user.calendar_token = secrets.token_urlsafe(24)
    user.save(update_fields=["calendar_token"])
    return user.calendar_token


# --- Reminders -----------------------------------------------------------------------------


def send_session_reminders(*, now: datetime | None = None) -> int:
    """
    Notify each user whose bookmarked session starts within the next
    ``SESSION_REMINDER_MINUTES``; return how many reminders went out.

    Once per (user, session): each bookmark is claimed with a conditional
    UPDATE on ``reminded_at`` in the same transaction as the notification,
    so concurrent runs never remind twice and a failed notify leaves the
    bookmark for the next run. A session that has already started is not
    reminded of.
    """
    now = now or timezone.now()
    window_end = now + timedelta(minutes=settings.SESSION_REMINDER_MINUTES)
    due = (
        Bookmark.objects.filter(
            reminded_at__isnull=True,
            session__starts_at__gt=now,
            session__starts_at__lte=window_end,
            user__session_reminders=True,
        )
        .select_related("user", "session", "session__room", "session__conference")
        .order_by("session__starts_at", "id")
    )
    sent = 0
    for bookmark in due:
        session = bookmark.session
        with transaction.atomic():
            if not Bookmark.objects.filter(pk=bookmark.pk, reminded_at__isnull=True).update(reminded_at=now):
                continue
            minutes = max(1, round((session.starts_at - now).total_seconds() / 60))
            where = f" in {session.room.name}" if session.room else ""
            notify(
                bookmark.user,
                kind=NotificationKind.SESSION_REMINDER,
                title=f"Starting in {minutes} min: {session.title}",
                body=f"{session.title} starts at {timezone.localtime(session.starts_at, ZoneInfo(session.conference.timezone)):%H:%M}{where}.",
                data={
                    "conference": session.conference.slug,
                    "session": session.pk,
                    "starts_at": session.starts_at.isoformat(),
                    "room": session.room.name if session.room else None,
                },
            )
        sent += 1
    return sent
