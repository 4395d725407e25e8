"""
Reads for conferences: each list query carries the joins and prefetches
that keep its endpoint at a constant number of SQL queries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import TruncHour
from django.utils import timezone

from conferences.errors import (
    BadgeNotFound,
    ConferenceNotFound,
    NotRegistered,
    RoomNotFound,
    SessionNotFound,
    SpeakerNotFound,
    TrackNotFound,
)
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
from ibw.errors import NotFound
from ibw.search import full_text_search, uses_full_text
from users.models import User

logger = structlog.get_logger(__name__)

# What ``?ordering=`` may ask of the agenda; a search is otherwise by relevance.
SESSION_ORDERINGS: dict[str, tuple[str, ...]] = {"starts_at": ("starts_at", "id"), "-starts_at": ("-starts_at", "-id")}


def access_conference(slug: str) -> Conference:
    """Return the conference with ``slug``, or raise ``NotFound``."""
    conference = Conference.objects.filter(slug=slug).first()
    if conference is None:
        raise ConferenceNotFound()
    return conference


def conferences() -> QuerySet[Conference]:
    return Conference.objects.order_by("starts_on", "slug")


def _speakers_prefetch() -> Prefetch:
    """Each session's speakers in their order, as ``session.speaker_links`` (one query for any number)."""
    return Prefetch(
        "sessionspeaker_set",
        # Only what the agenda and calendars show of a speaker: most of an agenda
        # page's time goes into building model instances, and biographies are long.
        queryset=SessionSpeaker.objects.select_related("speaker")
        .only(
            "id", "session_id", "speaker_id", "speaker__id", "speaker__name", "speaker__avatar_url", "speaker__user_id"
        )
        .order_by("position", "id"),
        to_attr="speaker_links",
    )


def _with_bookmarked(queryset: QuerySet[Session], user: User | None) -> QuerySet[Session]:
    if user is None or not user.is_authenticated:
        return queryset.annotate(bookmarked=Value(False, output_field=BooleanField()))
    return queryset.annotate(bookmarked=Exists(Bookmark.objects.filter(session=OuterRef("pk"), user=user)))


def day_bounds(conference: Conference, day: date) -> tuple[datetime, datetime]:
    """Return the start and end of ``day`` in the conference's time zone."""
    zone = ZoneInfo(conference.timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def sessions_for_conference(
    conference: Conference,
    *,
    user: User | None = None,
    day: date | None = None,
    track: str | None = None,
    room: str | None = None,
    q: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Session]:
    """
    Return the conference's sessions by start time, with room, track and
    speakers loaded and ``bookmarked`` annotated for ``user`` (three queries
    whatever the number of sessions: sessions, speakers, and the page count).

    ``track`` and ``room`` are ids, or names when not numeric. ``q`` searches
    title, abstract, speakers' names and track (``ibw.search``): by relevance
    on PostgreSQL, ties by start time, unless ``ordering`` (one of
    ``SESSION_ORDERINGS``) is given.
    """
    sessions = _agenda_sessions(conference, day=day, track=track, room=room, q=q, ordering=ordering)
    sessions = sessions.select_related("room", "track").prefetch_related(_speakers_prefetch())
    return _with_bookmarked(sessions, user)


def agenda_rows(
    conference: Conference,
    *,
    day: date | None = None,
    track: str | None = None,
    room: str | None = None,
    q: str | None = None,
    ordering: str | None = None,
) -> QuerySet[Session, dict[str, Any]]:
    """
    The same sessions as ``sessions_for_conference`` as plain rows, for the
    agenda page a cache miss renders: what it shows of each session, its
    room's and track's names, and no model instances (building those was most
    of the page's cost). Slice it, then ``with_speaker_rows`` adds speakers.
    """
    sessions = _agenda_sessions(conference, day=day, track=track, room=room, q=q, ordering=ordering)
    return sessions.values(*AGENDA_ROW_FIELDS, room_name=F("room__name"), track_name=F("track__name"))


AGENDA_ROW_FIELDS = (
    "id", "guid", "title", "abstract", "description", "starts_at", "ends_at",
    "room_id", "track_id", "type", "language", "url",
)  # fmt: skip


def with_speaker_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of ``agenda_rows``, each with ``speakers`` (id, name, avatar_url, user) in order: one query."""
    rows = list(rows)
    by_session: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
    links = (
        SessionSpeaker.objects.filter(session_id__in=by_session)
        .order_by("position", "id")
        .values_list("session_id", "speaker_id", "speaker__name", "speaker__avatar_url", "speaker__user_id")
    )
    for session_id, speaker_id, name, avatar_url, user_id in links:
        by_session[session_id].append({"id": speaker_id, "name": name, "avatar_url": avatar_url, "user": user_id})
    for row in rows:
        row["speakers"] = by_session[row["id"]]
    return rows


def _agenda_sessions(
    conference: Conference,
    *,
    day: date | None,
    track: str | None,
    room: str | None,
    q: str | None,
    ordering: str | None,
) -> QuerySet[Session]:
    """
    The agenda's filters and order: day in the conference's time zone, track
    and room (id or name), free text (by relevance unless ``ordering``).
    """
    sessions = Session.objects.filter(conference=conference)
    if day is not None:
        start, end = day_bounds(conference, day)
        sessions = sessions.filter(starts_at__gte=start, starts_at__lt=end)
    for name, value in (("track", track), ("room", room)):
        if value:
            lookup = {f"{name}_id": int(value)} if value.isdigit() else {f"{name}__name__iexact": value}
            sessions = sessions.filter(**lookup)
    sessions = sessions.order_by(*SESSION_ORDERINGS[ordering or "starts_at"])
    if q and q.strip():
        if uses_full_text(sessions):
            sessions = full_text_search(sessions, q, ranked=not ordering)
        else:
            speaker_match = SessionSpeaker.objects.filter(session=OuterRef("pk"), speaker__name__icontains=q)
            sessions = sessions.filter(
                Q(title__icontains=q) | Q(abstract__icontains=q) | Q(track__name__icontains=q) | Exists(speaker_match)
            )
    return sessions


def access_session(conference: Conference, session_id: int, *, user: User | None = None) -> Session:
    """Return one session of ``conference`` with its relations, or raise ``NotFound``."""
    session = sessions_for_conference(conference, user=user).filter(pk=session_id).first()
    if session is None:
        raise SessionNotFound()
    return session


def bookmarked_sessions(conference: Conference, *, user: User) -> list[Session]:
    """
    Return ``user``'s bookmarked sessions of ``conference`` by time, each with
    ``conflicts_with``: the ids of the other bookmarked sessions it overlaps.
    """
    sessions = list(sessions_for_conference(conference, user=user).filter(bookmarks__user=user))
    for session in sessions:
        # An attribute for the serializer, not a model field.
        session.conflicts_with = [  # type: ignore[attr-defined]
            other.pk
            for other in sessions
            if other.pk != session.pk and other.starts_at < session.ends_at and session.starts_at < other.ends_at
        ]
    return sessions


def speakers_for_conference(conference: Conference, *, q: str | None = None) -> QuerySet[Speaker]:
    """
    Return the conference's speakers by name; ``q`` searches name and
    biography (``ibw.search``), by relevance on PostgreSQL, ties by name.
    """
    speakers = Speaker.objects.filter(conference=conference).order_by("name", "id")
    if q and q.strip():
        if uses_full_text(speakers):
            return full_text_search(speakers, q)
        speakers = speakers.filter(Q(name__icontains=q) | Q(bio__icontains=q))
    return speakers


def access_speaker(conference: Conference, speaker_id: int) -> Speaker:
    """Return a speaker of ``conference`` with their sessions (rooms and tracks loaded), or raise ``NotFound``."""
    speaker = (
        Speaker.objects.filter(conference=conference, pk=speaker_id)
        .prefetch_related(
            Prefetch("sessions", queryset=Session.objects.select_related("room", "track").order_by("starts_at", "id"))
        )
        .first()
    )
    if speaker is None:
        raise SpeakerNotFound()
    return speaker


def rooms_for_conference(conference: Conference) -> QuerySet[Room]:
    return Room.objects.filter(conference=conference).order_by("position", "name")


def tracks_for_conference(conference: Conference) -> QuerySet[Track]:
    return Track.objects.filter(conference=conference).order_by("name")


def access_room(conference: Conference, room_id: int) -> Room:
    """Return a room of ``conference``, or raise ``NotFound``."""
    room = Room.objects.filter(conference=conference, pk=room_id).first()
    if room is None:
        raise RoomNotFound()
    return room


def access_track(conference: Conference, track_id: int) -> Track:
    """Return a track of ``conference``, or raise ``NotFound``."""
    track = Track.objects.filter(conference=conference, pk=track_id).first()
    if track is None:
        raise TrackNotFound()
    return track


@cache
def _fingerprint_sql() -> str:
    # Table names come from the models and the slug is a query parameter, so
    # the string building below carries no outside input (hence the noqa).
    columns = []
    for name, model in (("sessions", Session), ("rooms", Room), ("tracks", Track), ("speakers", Speaker)):
        rows = f"FROM {model._meta.db_table} t WHERE t.conference_id = c.id"
        columns.append(f"(SELECT max(t.updated_at) {rows}) AS fp_{name}_at")  # noqa: S608
        columns.append(f"(SELECT count(*) {rows}) AS fp_{name}_n")  # noqa: S608
    return f"SELECT c.*, {', '.join(columns)} FROM {Conference._meta.db_table} c WHERE c.slug = %s"  # noqa: S608


def access_conference_with_fingerprint(slug: str) -> tuple[Conference, str]:
    """
    Return the conference with ``slug`` and a short hash that changes
    whenever anything its agenda shows changes: the conference, its
    sessions, rooms, tracks and speakers (their latest ``updated_at`` and how
    many there are). Raise ``NotFound`` for an unknown slug.

    One plain SQL query, since every poll of the agenda or ``schedule.ics``
    runs it (and a 304 needs nothing else): the basis of their ETags and of
    their cache keys.
    """
    conference = next(iter(Conference.objects.raw(_fingerprint_sql(), [slug])), None)
    if conference is None:
        raise ConferenceNotFound()
    values = [conference.updated_at] + [
        getattr(conference, f"fp_{name}_{kind}")
        for name in ("sessions", "rooms", "tracks", "speakers")
        for kind in ("at", "n")
    ]
    raw = "|".join(str(value) for value in values)
    return conference, hashlib.sha256(raw.encode()).hexdigest()[:32]


def agenda_version_key(slug: str) -> str:
    return f"agenda:version:{digest_slug(slug)}"


def digest_slug(slug: str) -> str:
    """Slugs come from the URL: hashed, any string makes a safe cache key."""
    return hashlib.sha256(slug.encode()).hexdigest()[:32]


def remember_agenda_version(slug: str, *, conference_id: int, fingerprint: str) -> None:
    """
    Keep ``(conference id, fingerprint)`` of ``slug`` in the cache for
    ``AGENDA_VERSION_SECONDS``, so a cached agenda page or calendar is served
    with no SQL at all. Every change of what the agenda shows goes through
    ``conferences.services`` (API, import, sync and Django admin alike), which
    drops it at once and again when the change commits. A cache outage only
    costs the fingerprint query.
    """
    try:
        django_cache.set(agenda_version_key(slug), (conference_id, fingerprint), settings.AGENDA_VERSION_SECONDS)
    except Exception as exc:  # the cache is an optimisation: any backend error means "query it next time"
        logger.warning("agenda_version_cache_unavailable", error=str(exc))


def forget_agenda_version(slug: str) -> None:
    try:
        django_cache.delete(agenda_version_key(slug))
    except Exception as exc:  # as above; the entry expires by itself
        logger.warning("agenda_version_cache_unavailable", error=str(exc))


def bookmarked_session_ids(conference: Conference | int, *, user: User) -> frozenset[int]:
    """Return the ids of ``user``'s bookmarked sessions in ``conference`` (an object or its id; one query)."""
    conference_id = conference if isinstance(conference, int) else conference.pk
    return frozenset(
        Bookmark.objects.filter(user=user, session__conference_id=conference_id).values_list("session_id", flat=True)
    )


def access_attendance(conference: Conference, *, user: User) -> Attendance:
    attendance = Attendance.objects.filter(conference=conference, user=user).first()
    if attendance is None:
        raise NotRegistered()
    return attendance


def attendance_by_badge(conference: Conference | None, badge_code: str) -> Attendance:
    """
    Return the attendance with ``badge_code`` (in ``conference`` when given;
    case and surrounding spaces ignored), or raise ``BadgeNotFound``. The one
    badge lookup: door check-in, side-event check-in and badge-scan connect.
    """
    attendances = Attendance.objects.select_related("user", "conference").filter(badge_code=badge_code.strip().upper())
    if conference is not None:
        attendances = attendances.filter(conference=conference)
    attendance = attendances.first()
    if attendance is None:
        raise BadgeNotFound()
    return attendance


def calendar_owner(token: str) -> User:
    """Return the active user whose calendar feed secret is ``token``, or raise ``NotFound``."""
    user = User.objects.filter(calendar_token=token, is_active=True).first() if token else None
    if user is None:
        raise NotFound("No such calendar.")
    return user


def bookmarked_sessions_for_feed(user: User) -> QuerySet[Session]:
    """Every session ``user`` bookmarked, in any conference, for their personal calendar."""
    return (
        Session.objects.filter(bookmarks__user=user)
        .select_related("room", "track", "conference")
        .order_by("starts_at", "id")
    )


def next_bookmarked_session(user: User, *, now: datetime) -> Session | None:
    """Return ``user``'s bookmarked session (any conference) that ends soonest after ``now``, or ``None``."""
    return (
        Session.objects.filter(bookmarks__user=user, ends_at__gt=now)
        .select_related("room", "conference")
        .order_by("starts_at", "id")
        .first()
    )


def conference_for(user: User, *, today: date | None = None) -> Conference | None:
    """
    Return the conference ``user`` registered for most recently, else the one
    running ``today`` (UTC date by default), else the next one to start.
    """
    attendance = (
        Attendance.objects.filter(user=user).select_related("conference").order_by("-registered_at", "-id").first()
    )
    if attendance is not None:
        return attendance.conference
    today = today or timezone.now().date()
    running = Conference.objects.filter(starts_on__lte=today, ends_on__gte=today).order_by("starts_on", "id").first()
    return running or Conference.objects.filter(starts_on__gt=today).order_by("starts_on", "id").first()


def sessions_on_day(conference: Conference, *, user: User, day: date) -> list[tuple[Session, bool]]:
    """
    Return the sessions starting on ``day`` (conference time) with their room,
    each with whether ``user`` bookmarked it: bookmarks first, each group by
    start time.
    """
    start, end = day_bounds(conference, day)
    sessions = _with_bookmarked(
        Session.objects.filter(conference=conference, starts_at__gte=start, starts_at__lt=end).select_related("room"),
        user,
    ).order_by("starts_at", "id")
    # ``bookmarked`` is the annotation _with_bookmarked adds; the model class does not declare it.
    rows = [(session, bool(session.bookmarked)) for session in sessions]  # type: ignore[attr-defined]
    return sorted(rows, key=lambda row: not row[1])


def conference_exists(slug: str) -> bool:
    return Conference.objects.filter(slug=slug).exists()


def attendee_user_ids(*, conference_slug: str | None = None, checked_in: bool = False) -> QuerySet:
    """
    The ids of the people registered for the conference ``conference_slug``
    (any conference when ``None``), only those checked in when
    ``checked_in``; a subquery for ``pk__in`` (broadcast audiences).
    """
    attendances = Attendance.objects.all()
    if conference_slug:
        attendances = attendances.filter(conference__slug=conference_slug)
    if checked_in:
        attendances = attendances.filter(status=AttendanceStatus.CHECKED_IN)
    return attendances.values("user_id")


def is_checked_in(conference: Conference, *, user: User) -> bool:
    """Whether ``user`` has been checked in at ``conference`` (one query)."""
    return Attendance.objects.filter(conference=conference, user=user, status=AttendanceStatus.CHECKED_IN).exists()


def session_conference_slug(session_id: int) -> str | None:
    """The slug of the conference holding session ``session_id``, or ``None`` when there is no such session."""
    return Session.objects.filter(pk=session_id).values_list("conference__slug", flat=True).first()


def bookmarker_user_ids(session_id: int) -> QuerySet:
    """The ids of the people who bookmarked session ``session_id``; a subquery for ``pk__in`` (broadcast audiences)."""
    return Bookmark.objects.filter(session_id=session_id).values("user_id")


def latest_attendance(user: User) -> Attendance | None:
    """``user``'s most recent registration (the badge they are most likely to need), or ``None``."""
    return Attendance.objects.filter(user=user).select_related("conference").order_by("-registered_at", "-id").first()


def session_with_place(session_id: int) -> Session | None:
    """Session ``session_id`` with its room and conference, or ``None`` (a bot deep link names it)."""
    return Session.objects.select_related("room", "conference").filter(pk=session_id).first()


def conference_by_slug(slug: str) -> Conference | None:
    return Conference.objects.filter(slug=slug).first()


def attendances_per_hour(conference: Conference) -> tuple[dict[datetime, int], dict[datetime, int]]:
    """
    How many people registered for ``conference`` and how many were checked
    in, per hour of the conference's time zone: ``({hour: count}, {hour:
    count})`` with aware hour starts and no empty hours (two queries).
    """
    zone = ZoneInfo(conference.timezone)
    attendances = Attendance.objects.filter(conference=conference)
    per_hour = {}
    for name, field, rows in (
        ("registered", "registered_at", attendances),
        ("checked_in", "checked_in_at", attendances.filter(checked_in_at__isnull=False)),
    ):
        counts = rows.annotate(hour=TruncHour(field, tzinfo=zone)).values("hour").annotate(n=Count("id")).order_by()
        per_hour[name] = {row["hour"]: row["n"] for row in counts}
    return per_hour["registered"], per_hour["checked_in"]


def telegram_reach(conference: Conference) -> dict[str, int]:
    """
    How many of ``conference``'s registered people Telegram reaches (one
    query): ``registered``; ``started_bot`` (active, chat linked by /start);
    ``notify_on`` (also ``notify_telegram``); ``reachable`` (also not
    blocked: what a broadcast's Telegram channel would send to).
    """
    started = Q(user__is_active=True, user__telegram_chat_id__isnull=False)
    notify_on = started & Q(user__notify_telegram=True)
    return Attendance.objects.filter(conference=conference).aggregate(
        registered=Count("id"),
        started_bot=Count("id", filter=started),
        notify_on=Count("id", filter=notify_on),
        reachable=Count("id", filter=notify_on & Q(user__telegram_blocked_at__isnull=True)),
    )
