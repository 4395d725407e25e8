"""
Writes for conferences: schedule import, sessions, rooms, tracks, speakers,
bookmarks, attendance, check-in, the personal calendar secret and session
reminders.

Every write that the schedule documents show (a conference's own fields,
its sessions, rooms, tracks, speakers) goes through a function here that
calls ``_agenda_changed`` inside its transaction: the conference's
``agenda_version`` goes up, and once the change commits the stored
documents are marked stale and rebuilt (``conferences.documents``). The API,
the admin and the management commands all write through these functions.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import structlog
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from conferences import changes, documents, selectors
from conferences.errors import ScheduleInvalid, ScheduleUnavailable
from conferences.frab import SESSION_ATTRS, FrabPerson
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
from conferences.schedule import ParsedSchedule, parse_schedule
from conferences.selectors import attendance_by_badge
from ibw.errors import ValidationFailed
from ibw.tasks import enqueue_named_on_commit, enqueue_on_commit
from notifications.models import NotificationKind
from notifications.services import notify
from users.models import User

logger = structlog.get_logger(__name__)

# Session fields an import sets, by attribute name, in the order compared:
# the format's plain fields (conferences.frab) and the two relations.
_IMPORTED_FIELDS = [*SESSION_ATTRS.values(), "room_id", "track_id"]
MAX_SCHEDULE_BYTES = 20 * 1024 * 1024
# Told of each first check-in (quests' invite counting), enqueued by name.
CHECKED_IN_TASK = "quests.count_invite_checkin"


# --- The agenda version ------------------------------------------------------------


def _lock_agenda(conference_id: int) -> None:
    """
    Lock the conference's row before any of its sessions: the schedule
    import does, and ``_agenda_changed`` updates that row, so every writer
    taking the conference first keeps the lock order one and the same (no
    deadlock between an import and an edit).
    """
    Conference.objects.select_for_update().filter(pk=conference_id).values_list("pk", flat=True).first()


def _agenda_changed(conference_id: int) -> None:
    """
    Raise conference ``conference_id``'s ``agenda_version`` (and
    ``updated_at``, which the agenda page's fingerprint reads) and drop the
    cached agenda version (``selectors.remember_agenda_version``). Call inside
    the transaction of the change: the row stays locked until it commits, so
    concurrent changes get consecutive versions. After the commit the stored
    schedule documents are marked stale at once (the head in Redis) and
    their rebuild is enqueued; nothing happens if the transaction rolls back.
    """
    Conference.objects.filter(pk=conference_id).update(
        agenda_version=F("agenda_version") + 1, updated_at=timezone.now()
    )
    slug, version = Conference.objects.filter(pk=conference_id).values_list("slug", "agenda_version").get()
    # The cached version that lets an agenda page be served with no SQL: dropped now,
    # and again at commit (a request in between may have cached the old one again).
    selectors.forget_agenda_version(slug)
    transaction.on_commit(partial(selectors.forget_agenda_version, slug))
    transaction.on_commit(partial(documents.agenda_changed, slug, version))
    # tasks.py imports this module (reminders): imported here to avoid the cycle.
    from conferences.tasks import build_schedule_documents_task

    enqueue_on_commit(build_schedule_documents_task, conference_id=conference_id)


# --- Conferences ----------------------------------------------------------------


def create_conference(**fields: Any) -> Conference:
    conference = Conference(**fields)
    return save_conference(conference)


def update_conference(conference: Conference, **fields: Any) -> Conference:
    for name, value in fields.items():
        setattr(conference, name, value)
    return save_conference(conference)


def save_conference(conference: Conference) -> Conference:
    """
    Validate and save ``conference`` (new or changed). A change raises the
    agenda version (title, time zone and dates are in the schedule
    documents); a changed slug drops the documents stored under the old one
    after commit.
    """
    with transaction.atomic():
        if conference.pk is None:
            conference.full_clean()
            conference.save()
            return conference
        old_slug = Conference.objects.filter(pk=conference.pk).values_list("slug", flat=True).first()
        conference.full_clean()
        conference.save()
        _agenda_changed(conference.pk)
        if old_slug and old_slug != conference.slug:
            transaction.on_commit(partial(documents.forget, old_slug))
    conference.refresh_from_db(fields=["agenda_version", "updated_at"])
    return conference


def delete_conference(conference: Conference) -> None:
    """Delete ``conference`` with everything in it; its stored schedule documents go after commit."""
    with transaction.atomic():
        slug = conference.slug
        conference.delete()
        transaction.on_commit(partial(documents.forget, slug))


# --- Schedule import ----------------------------------------------------------------


def _sync_rooms(conference: Conference, parsed: ParsedSchedule) -> tuple[dict[str, Room], bool]:
    """
    Create the file's rooms that are missing, keyed by name (exporters may
    give rooms one shared guid); return them and whether anything changed.
    """
    rooms = {room.name: room for room in Room.objects.filter(conference=conference)}
    next_position = max((room.position for room in rooms.values()), default=-1) + 1
    changed = False
    for name, guid in parsed.rooms:
        room = rooms.get(name)
        if room is None:
            rooms[name] = Room.objects.create(conference=conference, name=name, guid=guid, position=next_position)
            next_position += 1
            changed = True
        elif guid and not room.guid:
            room.guid = guid
            room.save(update_fields=["guid", "updated_at"])
            changed = True
    return rooms, changed


def _sync_tracks(conference: Conference, parsed: ParsedSchedule) -> tuple[dict[str, Track], bool]:
    tracks = {track.name: track for track in Track.objects.filter(conference=conference)}
    changed = False
    for name, color in parsed.tracks.items():
        track = tracks.get(name)
        if track is None:
            tracks[name] = Track.objects.create(conference=conference, name=name, color=color)
            changed = True
        elif color and track.color != color:
            track.color = color
            track.save(update_fields=["color", "updated_at"])
            changed = True
    return tracks, changed


def _sync_speakers(
    conference: Conference, parsed: ParsedSchedule, *, now: datetime
) -> tuple[dict[tuple, Speaker], bool]:
    """
    Create or update the file's speakers: by guid or code, else by name.
    A field the file leaves out (frab gives no biography) keeps what the
    organizers entered; the link to a user account is never touched.
    """
    by_key: dict[tuple, Speaker] = {}
    for stored in Speaker.objects.filter(conference=conference).order_by("id"):
        key = ("id", stored.external_id) if stored.external_id else ("name", stored.name)
        by_key.setdefault(key, stored)
    people: dict[tuple, FrabPerson] = {}
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
    return by_key, bool(new or changed)


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
    the other. An import that changes anything (a session, room, track or
    speaker) raises the agenda version; one that changes nothing keeps it.
    """
    parsed = parse_schedule(data, default_timezone=conference.timezone)
    with transaction.atomic():
        Conference.objects.select_for_update().filter(pk=conference.pk).first()
        now = timezone.now()
        rooms, rooms_changed = _sync_rooms(conference, parsed)
        tracks, tracks_changed = _sync_tracks(conference, parsed)
        speakers, speakers_changed = _sync_speakers(conference, parsed, now=now)

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
                **{field: getattr(event, attr) for attr, field in SESSION_ATTRS.items()},
                "room_id": rooms[event.room].pk if event.room else None,
                "track_id": tracks[event.track].pk if event.track else None,
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
        if created or updated or existing or rooms_changed or tracks_changed or speakers_changed:
            _agenda_changed(conference.pk)
        if created or updated or existing:
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
    """Create a session by hand (a generated guid unless given), with ``speakers`` in order."""
    session = Session(conference=conference, guid=guid, **fields)
    return save_session(session, speakers=speakers or [])


def update_session(session: Session, *, speakers: list[Speaker] | None = None, **fields: Any) -> Session:
    """
    Change only ``fields`` of ``session``, on its current row (locked), and
    return it: an edit racing a schedule import keeps the import's other
    changes instead of writing back what the caller read before it.
    """
    with transaction.atomic():
        _lock_agenda(session.conference_id)
        current = Session.objects.select_for_update(of=("self",)).get(pk=session.pk)
        for name, value in fields.items():
            setattr(current, name, value)
        return save_session(current, speakers=speakers)


def save_session(session: Session, *, speakers: list[Speaker] | None = None) -> Session:
    """
    Validate and save ``session`` (new or changed; a new one without a guid
    gets a generated one), then set its ``speakers`` in that order when
    given; the one write path of the API, Django admin and scripts. Raises
    the agenda version in the same transaction. A move of an existing
    session (start, end, room) is a schedule change: its bookmarkers are
    told after the debounce window (``conferences.changes``), and
    ``agenda_changed`` is pushed after commit. Locks the session's row while
    it compares.
    """
    with transaction.atomic():
        _lock_agenda(session.conference_id)
        before = None
        if session.pk is not None:
            stored = (
                Session.objects.select_for_update(of=("self",)).select_related("room").filter(pk=session.pk).first()
            )
            before = changes.snapshot(stored) if stored is not None else None
        if not session.guid:
            session.guid = str(uuid.uuid4())
        session.full_clean(exclude=["speakers"])
        session.save()
        if speakers is not None:
            _link_speakers(session, speakers)
        if before is not None:
            changes.record_move(session, before=before, after=changes.snapshot(session))
        _agenda_changed(session.conference_id)
        changes.push_agenda_changed(session.conference)
    return session


def set_session_speakers(session: Session, *, speakers: list[Speaker]) -> None:
    """Make ``speakers`` (in that order) the speakers of ``session``; raises the agenda version."""
    with transaction.atomic():
        _lock_agenda(session.conference_id)
        _link_speakers(session, speakers)
        # The agenda page's fingerprint reads sessions' updated_at.
        Session.objects.filter(pk=session.pk).update(updated_at=timezone.now())
        _agenda_changed(session.conference_id)


def delete_session(session: Session) -> None:
    """
    Delete ``session`` (its bookmarks with it); raises the agenda version.
    Its bookmarkers are told it is cancelled (debounced) and
    ``agenda_changed`` is pushed after commit.
    """
    with transaction.atomic():
        _lock_agenda(session.conference_id)
        stored = Session.objects.select_for_update(of=("self",)).select_related("room", "conference").get(pk=session.pk)
        people = changes.bookmarker_ids([stored.pk])
        changes.record_removal(stored, before=changes.snapshot(stored))
        conference_id = stored.conference_id
        stored.delete()
        _agenda_changed(conference_id)
        changes.push_agenda_changed(stored.conference, also=people)


# --- Rooms, tracks, speakers ---------------------------------------------------------


def _save_agenda_item(item: Room | Track | Speaker) -> Any:
    try:
        item.full_clean()
    except DjangoValidationError as exc:
        details = {field: list(messages) for field, messages in exc.message_dict.items()}
        first = next(iter(details.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", details=details) from exc
    with transaction.atomic():
        _lock_agenda(item.conference_id)
        item.save()
        _agenda_changed(item.conference_id)
    return item


def _delete_agenda_item(item: Room | Track | Speaker) -> None:
    with transaction.atomic():
        conference_id = item.conference_id
        _lock_agenda(conference_id)
        item.delete()
        _agenda_changed(conference_id)


def save_room(room: Room) -> Room:
    """Validate and save ``room`` (new or changed); raises the agenda version."""
    return _save_agenda_item(room)


def create_room(conference: Conference, **fields: Any) -> Room:
    return save_room(Room(conference=conference, **fields))


def update_room(room: Room, **fields: Any) -> Room:
    for name, value in fields.items():
        setattr(room, name, value)
    return save_room(room)


def delete_room(room: Room) -> None:
    """Delete ``room``; its sessions stay, without a room. Raises the agenda version."""
    _delete_agenda_item(room)


def save_track(track: Track) -> Track:
    """Validate and save ``track`` (new or changed); raises the agenda version."""
    return _save_agenda_item(track)


def create_track(conference: Conference, **fields: Any) -> Track:
    return save_track(Track(conference=conference, **fields))


def update_track(track: Track, **fields: Any) -> Track:
    for name, value in fields.items():
        setattr(track, name, value)
    return save_track(track)


def delete_track(track: Track) -> None:
    """Delete ``track``; its sessions stay, without a track. Raises the agenda version."""
    _delete_agenda_item(track)


def save_speaker(speaker: Speaker) -> Speaker:
    """Validate and save ``speaker`` (new or changed); raises the agenda version."""
    return _save_agenda_item(speaker)


def create_speaker(conference: Conference, **fields: Any) -> Speaker:
    return save_speaker(Speaker(conference=conference, **fields))


def update_speaker(speaker: Speaker, **fields: Any) -> Speaker:
    for name, value in fields.items():
        setattr(speaker, name, value)
    return save_speaker(speaker)


def delete_speaker(speaker: Speaker) -> None:
    """Delete ``speaker`` (and their place in sessions); raises the agenda version."""
    _delete_agenda_item(speaker)


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
        # By name: quests sits above conferences and counts this check-in for the attendee's inviter.
        enqueue_named_on_commit(CHECKED_IN_TASK, attendance_id=attendance.pk)
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
