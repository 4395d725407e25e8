"""
Writing a conference's whole agenda as frab's ``schedule.json`` and ``schedule.xml``.

``build_schedule`` reads the conference once (its agenda version first, so a
document is never older than the version it is tagged with) and returns the
format-neutral ``FrabSchedule``; ``schedule_json`` and ``schedule_xml`` encode
it. Events are written by ``conferences.frab``, the definition the importer
reads with. Reads only; the stored, ready-to-send documents are
``conferences.documents``'s business.

Decisions (docs/adr/0007): days are the conference time zone's local dates,
spanning the conference's dates plus any other date holding a session; every
time carries that zone's offset; a session without a room sits in the room
named ``""``; a conference without sessions still has its days, with no rooms
and no events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch

from conferences.frab import (
    COLOR_PATTERN,
    NO_ROOM,
    TIME_ZONE_PATTERN,
    FrabEvent,
    FrabPerson,
    derived_guid,
    escape,
    event_json,
    event_slug,
    event_xml,
    is_absolute_url,
    is_uuid,
    quote_attr,
    write_datetime,
)
from conferences.models import Conference, Room, Session, SessionSpeaker, Track

TIMESLOT_DURATION = "00:05"


@dataclass
class FrabDay:
    index: int
    date: date
    starts_at: datetime
    ends_at: datetime
    rooms: dict[str, list[FrabEvent]] = field(default_factory=dict)


@dataclass
class FrabSchedule:
    version: int
    conference_id: int
    slug: str
    title: str
    description: str
    zone: ZoneInfo
    time_zone_name: str
    rooms: list[tuple[str, str]]  # (name, guid)
    tracks: list[tuple[str, str]]  # (name, colour or "")
    days: list[FrabDay]

    @property
    def event_count(self) -> int:
        return sum(len(events) for day in self.days for events in day.rooms.values())


def session_url(conference: Conference, session: Session) -> str:
    if session.url and is_absolute_url(session.url):
        return session.url
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/api/v1/conferences/{conference.slug}/sessions/{session.pk}/"


def session_guid(session: Session) -> str:
    """The imported guid when it is a UUID, else one derived from it (stable for the session)."""
    return session.guid if is_uuid(session.guid) else derived_guid("session", session.conference_id, session.guid)


def _room_guids(rooms: list[Room]) -> dict[int, str]:
    """Each room's own guid when it is a UUID no earlier room has, else a derived one."""
    seen: set[str] = set()
    guids = {}
    for room in rooms:
        guid = room.guid if is_uuid(room.guid) and room.guid not in seen else derived_guid("room", room.pk)
        seen.add(guid)
        guids[room.pk] = guid
    return guids


def build_schedule(conference_id: int) -> FrabSchedule | None:
    """
    Return conference ``conference_id``'s agenda in frab's terms, or None
    when it no longer exists. Four queries: the conference (with its
    version), rooms, tracks, sessions with their speakers (one prefetch).
    """
    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None:
        return None
    zone = ZoneInfo(conference.timezone)
    rooms = list(Room.objects.filter(conference=conference).order_by("position", "name", "id"))
    tracks = list(Track.objects.filter(conference=conference).order_by("name", "id"))
    sessions = list(
        Session.objects.filter(conference=conference)
        .select_related("room", "track")
        .prefetch_related(
            Prefetch(
                "sessionspeaker_set",
                queryset=SessionSpeaker.objects.select_related("speaker").order_by("position", "id"),
                to_attr="speaker_links",
            )
        )
        .order_by("starts_at", "id")
    )
    events_by_date: dict[date, list[tuple[Session, FrabEvent]]] = {}
    for session in sessions:
        event = FrabEvent(
            id=session.pk,
            guid=session_guid(session),
            slug=event_slug(conference.slug, session.pk, session.title),
            title=session.title,
            abstract=session.abstract,
            description=session.description,
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            room=session.room.name if session.room else None,
            track=session.track.name if session.track else None,
            type=session.type,
            language=session.language,
            url=session_url(conference, session),
            persons=[
                FrabPerson(
                    id=link.speaker.pk,
                    external_id=link.speaker.external_id,
                    name=link.speaker.name,
                    bio=link.speaker.bio,
                    avatar_url=link.speaker.avatar_url,
                    links=link.speaker.links if isinstance(link.speaker.links, list) else [],
                )
                for link in session.speaker_links
            ],
        )
        events_by_date.setdefault(session.starts_at.astimezone(zone).date(), []).append((session, event))

    dates = set(events_by_date)
    day = conference.starts_on
    while day <= conference.ends_on:
        dates.add(day)
        day += timedelta(days=1)
    room_order = {room.pk: index for index, room in enumerate(rooms)}
    days = []
    for index, day in enumerate(sorted(dates), start=1):
        frab_day = FrabDay(
            index=index,
            date=day,
            starts_at=datetime.combine(day, time.min, tzinfo=zone),
            ends_at=datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
        )
        # Rooms in their order, the room-less sessions last.
        ordered = sorted(events_by_date.get(day, []), key=lambda pair: room_order.get(pair[0].room_id, len(rooms)))
        for _, event in ordered:
            frab_day.rooms.setdefault(event.room or NO_ROOM, []).append(event)
        days.append(frab_day)

    room_guids = _room_guids(rooms)
    return FrabSchedule(
        version=conference.agenda_version,
        conference_id=conference.pk,
        slug=conference.slug,
        title=conference.name,
        description=conference.description,
        zone=zone,
        time_zone_name=conference.timezone,
        rooms=[(room.name, room_guids[room.pk]) for room in rooms],
        tracks=[(track.name, track.color if COLOR_PATTERN.match(track.color) else "") for track in tracks],
        days=days,
    )


def schedule_json(schedule: FrabSchedule) -> bytes:
    """The document as ``schedule.json`` (UTF-8), valid against the c3voc schema."""
    zone = schedule.zone
    conference: dict = {
        "acronym": schedule.slug,
        "title": schedule.title,
        "start": schedule.days[0].date.isoformat(),
        "end": schedule.days[-1].date.isoformat(),
        "daysCount": len(schedule.days),
        "timeslot_duration": TIMESLOT_DURATION,
    }
    if schedule.description:
        conference["description"] = schedule.description
    # The schema's pattern admits most IANA names; one it refuses (Etc/GMT+5)
    # is left out, and the offsets in every time still say it all.
    if TIME_ZONE_PATTERN.search(schedule.time_zone_name):
        conference["time_zone_name"] = schedule.time_zone_name
    conference["rooms"] = [{"name": name, "guid": guid} for name, guid in schedule.rooms]
    conference["tracks"] = [{"name": name, **({"color": color} if color else {})} for name, color in schedule.tracks]
    conference["days"] = [
        {
            "index": day.index,
            "date": day.date.isoformat(),
            "day_start": write_datetime(day.starts_at, zone),
            "day_end": write_datetime(day.ends_at, zone),
            "rooms": {name: [event_json(event, zone) for event in events] for name, events in day.rooms.items()},
        }
        for day in schedule.days
    ]
    document = {"schedule": {"version": str(schedule.version), "conference": conference}}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def schedule_xml(schedule: FrabSchedule) -> bytes:
    """The document as frab's ``schedule.xml`` (UTF-8), valid against schedule.xml.xsd."""
    zone = schedule.zone
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<schedule>',
        f"<version>{schedule.version}</version>",
        "<conference>",
        f"<title>{escape(schedule.title)}</title>",
        f"<acronym>{escape(schedule.slug)}</acronym>",
        f"<start>{schedule.days[0].date.isoformat()}</start>",
        f"<end>{schedule.days[-1].date.isoformat()}</end>",
        f"<days>{len(schedule.days)}</days>",
        f"<timeslot_duration>{TIMESLOT_DURATION}</timeslot_duration>",
        "</conference>",
    ]
    for day in schedule.days:
        parts.append(
            f"<day index={quote_attr(day.index)} date={quote_attr(day.date.isoformat())}"
            f" start={quote_attr(write_datetime(day.starts_at, zone))}"
            f" end={quote_attr(write_datetime(day.ends_at, zone))}>"
        )
        for name, events in day.rooms.items():
            parts.append(f"<room name={quote_attr(name)}>")
            parts.extend(event_xml(event, zone) for event in events)
            parts.append("</room>")
        parts.append("</day>")
    parts.append("</schedule>\n")
    return "".join(parts).encode()
