"""
Writing a conference's whole agenda as frab's ``schedule.json`` and ``schedule.xml``.

``build_schedule`` reads the conference once (its agenda version first, so a
document is never older than the version it is tagged with) and returns the
format-neutral ``FrabSchedule``; ``schedule_json`` and ``schedule_xml`` encode
it. Events are written by ``conferences.frab``, the definition the importer
reads with. Reads only; the stored, ready-to-send documents are
``conferences.documents``'s business.

Decisions (docs/adr/0008): days are the conference time zone's local dates,
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
from conferences.models import Conference, Room, Session, SessionSpeaker, Speaker, Track

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


_SESSION_COLUMNS = (
    "pk",
    "guid",
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
)


def _room_guids(rooms: list[tuple[int, str, str]]) -> list[tuple[str, str]]:
    """
    (name, guid) of each room: its own guid when it is a UUID no earlier room
    has (exporters may give two rooms one guid), else one derived from its id.
    """
    seen: set[str] = set()
    result = []
    for pk, name, own in rooms:
        guid = own if is_uuid(own) and own not in seen else derived_guid("room", pk)
        seen.add(guid)
        result.append((name, guid))
    return result


def build_schedule(conference_id: int) -> FrabSchedule | None:
    """
    Return conference ``conference_id``'s agenda in frab's terms, or None
    when it no longer exists. Six plain queries (values, no model
    instances: this runs for thousands of sessions): the conference with its
    version first, then rooms, tracks, speakers, sessions and their links.
    """
    conference = Conference.objects.filter(pk=conference_id).first()
    if conference is None:
        return None
    zone = ZoneInfo(conference.timezone)
    rooms = list(
        Room.objects.filter(conference=conference).order_by("position", "name", "id").values_list("pk", "name", "guid")
    )
    tracks = list(Track.objects.filter(conference=conference).order_by("name", "id").values_list("pk", "name", "color"))
    people = {
        row[0]: FrabPerson(
            id=row[0],
            external_id=row[1],
            name=row[2],
            bio=row[3],
            avatar_url=row[4],
            links=row[5] if isinstance(row[5], list) else [],
        )
        for row in Speaker.objects.filter(conference=conference).values_list(
            "pk", "external_id", "name", "bio", "avatar_url", "links"
        )
    }
    persons_of: dict[int, list[FrabPerson]] = {}
    for session_id, speaker_id in (
        SessionSpeaker.objects.filter(session__conference=conference)
        .order_by("session_id", "position", "id")
        .values_list("session_id", "speaker_id")
    ):
        persons_of.setdefault(session_id, []).append(people[speaker_id])
    room_names = {pk: name for pk, name, _ in rooms}
    track_names = {pk: name for pk, name, _ in tracks}
    events_by_date: dict[date, list[tuple[int | None, FrabEvent]]] = {}
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    for row in Session.objects.filter(conference=conference).order_by("starts_at", "id").values(*_SESSION_COLUMNS):
        pk = row["pk"]
        url = (
            row["url"]
            if row["url"] and is_absolute_url(row["url"])
            else f"{base}/api/v1/conferences/{conference.slug}/sessions/{pk}/"
        )
        event = FrabEvent(
            id=pk,
            guid=row["guid"] if is_uuid(row["guid"]) else derived_guid("session", conference.pk, row["guid"]),
            slug=event_slug(conference.slug, pk, row["title"]),
            title=row["title"],
            abstract=row["abstract"],
            description=row["description"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            room=room_names.get(row["room_id"]),
            track=track_names.get(row["track_id"]),
            type=row["type"],
            language=row["language"],
            url=url,
            persons=persons_of.get(pk, []),
        )
        events_by_date.setdefault(row["starts_at"].astimezone(zone).date(), []).append((row["room_id"], event))

    dates = set(events_by_date)
    day = conference.starts_on
    while day <= conference.ends_on:
        dates.add(day)
        day += timedelta(days=1)
    room_order = {pk: index for index, (pk, _, _) in enumerate(rooms)}
    days = []
    for index, day in enumerate(sorted(dates), start=1):
        frab_day = FrabDay(
            index=index,
            date=day,
            starts_at=datetime.combine(day, time.min, tzinfo=zone),
            ends_at=datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
        )
        # Rooms in their order, the room-less sessions last; by start time within a room (a stable sort).
        for _, event in sorted(events_by_date.get(day, []), key=lambda pair: room_order.get(pair[0] or 0, len(rooms))):
            frab_day.rooms.setdefault(event.room or NO_ROOM, []).append(event)
        days.append(frab_day)

    return FrabSchedule(
        version=conference.agenda_version,
        conference_id=conference.pk,
        slug=conference.slug,
        title=conference.name,
        description=conference.description,
        zone=zone,
        time_zone_name=conference.timezone,
        rooms=_room_guids(rooms),
        tracks=[(name, color if COLOR_PATTERN.match(color) else "") for _, name, color in tracks],
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
