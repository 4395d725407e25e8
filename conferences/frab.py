"""
The frab schedule format (``schedule.json`` and ``schedule.xml``), described once.

``FrabEvent`` and ``FrabPerson`` say what one event of the format carries, in
IBW's terms. ``EVENT_FIELDS`` lists every key of an event: the JSON key, the
XML element (or ``@attribute``), the ``FrabEvent`` attribute it carries, how
the exporter writes it and how the importer reads it. The importer
(``conferences.schedule``) reads events only through ``read_event`` and the
exporter (``conferences.export``) writes them only through ``event_json`` and
``event_xml``, both driven by this table, so a field added for one cannot be
forgotten by the other (``tests/conferences/test_schedule_export.py`` checks
that every ``FrabEvent`` attribute is written and read). ``SESSION_ATTRS``
maps the plain attributes onto ``Session`` fields, for both directions.

Conventions IBW chose where the format is silent (docs/adr/0008):
- a session without a room sits in the room with the empty name ``""`` (an
  event ``"room": ""``; ``<room name="">``), which the importer reads back as
  "no room";
- ``id`` is the session's primary key and ``slug`` is derived from it: both
  are IBW's own, so the importer ignores them (sessions are keyed by guid).

This module is pure: no database, no Django models.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

from conferences.errors import ScheduleInvalid

# The c3voc schema's patterns, which IBW's documents are held to.
SLUG_PATTERN = re.compile(r"^[a-z0-9_-]+[a-z0-9]$")
CODE_PATTERN = re.compile(r"^[A-Z0-9]+$")
TIME_ZONE_PATTERN = re.compile(r"^([A-Z][a-z]+/[A-Z][a-z]+)|UTC$")
COLOR_PATTERN = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
# The XSD allows at most two digits of hours in a duration.
MAX_DURATION = timedelta(hours=99, minutes=59)
# Characters XML 1.0 cannot carry at all (JSON can): dropped from the XML.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# guids IBW derives for sessions and rooms whose own guid is not a UUID.
GUID_NAMESPACE = uuid.UUID("0b9a3c8e-5f0e-4b57-9a57-2c1d1f3e6a10")
NO_ROOM = ""


@dataclass(frozen=True)
class FrabPerson:
    # ``external_id`` is the exporter's guid or code; empty when the file
    # gives neither, and the person is then known by name alone.
    external_id: str
    name: str
    bio: str | None = None
    avatar_url: str | None = None
    links: list[dict] | None = None
    # IBW's speaker id, written as the XML person's ``id``; not read.
    id: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return ("id", self.external_id) if self.external_id else ("name", self.name)


@dataclass(frozen=True)
class FrabEvent:
    guid: str
    title: str
    abstract: str
    description: str
    starts_at: datetime
    ends_at: datetime
    room: str | None
    track: str | None
    type: str
    language: str
    url: str
    persons: list[FrabPerson] = field(default_factory=list)
    # IBW's own: written by the exporter, ignored by the importer.
    id: int = 0
    slug: str = ""


# FrabEvent attribute -> Session field, for the attributes that are plain
# values on both sides (room, track and persons are relations).
SESSION_ATTRS = {
    "title": "title",
    "abstract": "abstract",
    "description": "description",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "type": "type",
    "language": "language",
    "url": "url",
}
# Export-only attributes: IBW's ids, derived again by the target on import.
EXPORT_ONLY_ATTRS = {"id", "slug"}


@dataclass
class Reading:
    """What reading one event needs: its JSON path (for messages), the file's zone and base URL."""

    path: str
    room_key: str
    zone: ZoneInfo | None
    base_url: str
    values: dict[str, Any] = field(default_factory=dict)


def fail(path: str, problem: str) -> ScheduleInvalid:
    return ScheduleInvalid(
        f"The schedule file is not valid: {path}: {problem}", details={"schedule": [f"{path}: {problem}"]}
    )


def text(value: Any, limit: int | None = None) -> str:
    result = "" if value is None else str(value)
    return result[:limit] if limit else result


# --- Times -------------------------------------------------------------------------


def read_datetime(value: Any, *, path: str, zone: ZoneInfo | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise fail(path, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise fail(path, f"{value!r} has no UTC offset and the file names no valid time_zone_name")
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def read_duration(value: Any, *, path: str) -> timedelta:
    parts = str(value).split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or any(n < 0 for n in numbers):
        raise fail(path, f"{value!r} is not a duration such as 00:30")
    hours, minutes, seconds = (numbers + [0])[:3]
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def write_datetime(value: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in the conference's zone, with its offset (seconds only when there are any)."""
    local = value.astimezone(zone).replace(microsecond=0)
    return local.isoformat()


def write_duration(starts_at: datetime, ends_at: datetime) -> str:
    """``H:MM``, rounded down to the minute and capped at 99:59 (the XSD's two digits of hours)."""
    minutes = int(min(max(ends_at - starts_at, timedelta(0)), MAX_DURATION).total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


# --- Identifiers ------------------------------------------------------------------------


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(value) == 36 and all(value[i] == "-" for i in (8, 13, 18, 23))


def derived_guid(kind: str, *parts: object) -> str:
    """A stable UUID for a thing whose own guid is not one (same parts, same UUID)."""
    return str(uuid.uuid5(GUID_NAMESPACE, ":".join([kind, *map(str, parts)])))


def event_slug(conference_slug: str, session_id: int, title: str) -> str:
    """``<conference>-<id>-<title words>``: unique by the id, within the schema's pattern."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:50].strip("-")
    prefix = re.sub(r"[^a-z0-9_-]+", "-", conference_slug.lower()).strip("-_") or "session"
    return "-".join(part for part in (prefix, str(session_id), words) if part)


def is_absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


# --- Persons ------------------------------------------------------------------------------


def read_person(raw: dict, *, base_url: str) -> FrabPerson | None:
    """A person in either form (pretalx's ``name``/``code``, frab's ``public_name``/``id``), or None without a name."""
    name = text(raw.get("name") or raw.get("public_name"), 200).strip()
    external_id = text(raw.get("guid") or raw.get("code"), 64).strip()
    if not name:
        return None
    avatar = raw.get("avatar")
    links = raw.get("links")
    return FrabPerson(
        external_id=external_id,
        name=name,
        bio=text(raw["biography"]) if "biography" in raw else None,
        avatar_url=urljoin(base_url, avatar)[:500] if avatar else None,
        links=[{"url": link.get("url", ""), "title": link.get("title", "")} for link in links]
        if isinstance(links, list)
        else None,
    )


def write_person(person: FrabPerson) -> dict:
    """
    The pretalx form (``name`` with ``guid`` or ``code``), never also frab's
    ``public_name``: the schema's ``oneOf`` refuses a person matching both.
    """
    written: dict[str, Any] = {"name": person.name}
    if person.id:
        written["id"] = person.id
    if is_uuid(person.external_id):
        written["guid"] = person.external_id
    elif CODE_PATTERN.match(person.external_id):
        written["code"] = person.external_id
    written["biography"] = person.bio or ""
    if person.avatar_url and is_absolute_url(person.avatar_url):
        written["avatar"] = person.avatar_url
    links = [
        {"url": link["url"], "title": text(link.get("title"))}
        for link in person.links or []
        if isinstance(link, dict) and is_absolute_url(text(link.get("url")))
    ]
    if links:
        written["links"] = links
    return written


# --- The event table ----------------------------------------------------------------------


def _read_guid(raw: dict, reading: Reading) -> str:
    guid = text(raw["guid"], 64).strip()
    if not guid:
        raise fail(f"{reading.path}.guid", "an event needs a guid")
    return guid


def _read_starts_at(raw: dict, reading: Reading) -> datetime:
    return read_datetime(raw["date"], path=f"{reading.path}.date", zone=reading.zone)


def _read_ends_at(raw: dict, reading: Reading) -> datetime:
    starts_at = reading.values["starts_at"]
    if raw.get("end"):
        ends_at = read_datetime(raw["end"], path=f"{reading.path}.end", zone=reading.zone)
    else:
        ends_at = starts_at + read_duration(raw["duration"], path=f"{reading.path}.duration")
    if ends_at < starts_at:
        raise fail(reading.path, "the event ends before it starts")
    return ends_at


def _read_room(raw: dict, reading: Reading) -> str | None:
    """The event's room, else the key it is listed under; neither (IBW's room named "") means no room."""
    name = text(raw.get("room"), 200).strip() or text(reading.room_key, 200).strip()
    return name or None


def _read_persons(raw: dict, reading: Reading) -> list[FrabPerson]:
    persons: list[FrabPerson] = []
    keys: set[tuple[str, str]] = set()
    for item in raw["persons"]:
        person = read_person(item, base_url=reading.base_url)
        if person is not None and person.key not in keys:
            keys.add(person.key)
            persons.append(person)
    return persons


def _read_text(key: str, limit: int | None = None) -> Callable[[dict, Reading], str]:
    return lambda raw, reading: text(raw.get(key), limit)


@dataclass(frozen=True)
class EventField:
    """One key of a frab event."""

    key: str  # the schedule.json key
    xml: str | None  # the schedule.xml element, "@name" for an attribute, None when the XML has none
    attr: str | None  # the FrabEvent attribute it carries; None for a constant of the format
    write: Callable[[FrabEvent, ZoneInfo], Any]
    # How the importer reads ``attr`` from the raw event; None when another
    # key carries it (``start`` repeats ``date``) or it is IBW's own (``id``).
    read: Callable[[dict, Reading], Any] | None = None


EVENT_FIELDS: tuple[EventField, ...] = (
    EventField("id", "@id", "id", lambda e, z: e.id),
    EventField("guid", "@guid", "guid", lambda e, z: e.guid, _read_guid),
    EventField("date", "date", "starts_at", lambda e, z: write_datetime(e.starts_at, z), _read_starts_at),
    EventField("start", "start", "starts_at", lambda e, z: e.starts_at.astimezone(z).strftime("%H:%M")),
    EventField("end", None, "ends_at", lambda e, z: write_datetime(e.ends_at, z), _read_ends_at),
    EventField("duration", "duration", "ends_at", lambda e, z: write_duration(e.starts_at, e.ends_at)),
    EventField("room", "room", "room", lambda e, z: e.room or NO_ROOM, _read_room),
    EventField("slug", "slug", "slug", lambda e, z: e.slug),
    EventField("title", "title", "title", lambda e, z: e.title, _read_text("title", 300)),
    EventField("subtitle", "subtitle", None, lambda e, z: ""),
    EventField("track", "track", "track", lambda e, z: e.track, lambda r, g: text(r.get("track"), 200).strip() or None),
    EventField("type", "type", "type", lambda e, z: e.type, _read_text("type", 100)),
    EventField("language", "language", "language", lambda e, z: e.language, _read_text("language", 16)),
    EventField("abstract", "abstract", "abstract", lambda e, z: e.abstract, _read_text("abstract")),
    EventField("description", "description", "description", lambda e, z: e.description, _read_text("description")),
    EventField(
        "url",
        None,
        "url",
        lambda e, z: e.url,
        lambda r, g: urljoin(g.base_url, r["url"])[:500] if r.get("url") else "",
    ),
    EventField("persons", "persons", "persons", lambda e, z: [write_person(p) for p in e.persons], _read_persons),
    EventField("links", "links", None, lambda e, z: []),
)


def read_event(raw: dict, reading: Reading) -> FrabEvent:
    """Build a ``FrabEvent`` from one event of a validated schedule.json; raise ``ScheduleInvalid`` naming the path."""
    for spec in EVENT_FIELDS:
        if spec.read is not None and spec.attr is not None:
            reading.values[spec.attr] = spec.read(raw, reading)
    return FrabEvent(**reading.values)


def event_json(event: FrabEvent, zone: ZoneInfo) -> dict:
    return {spec.key: spec.write(event, zone) for spec in EVENT_FIELDS}


def xml_text(value: Any) -> str:
    return _XML_ILLEGAL.sub("", "" if value is None else str(value))


def event_xml(event: FrabEvent, zone: ZoneInfo) -> str:
    """One ``<event>`` element (the XSD's ``event``: attributes, then its elements)."""
    attributes = []
    elements = []
    for spec in EVENT_FIELDS:
        if spec.xml is None:
            continue
        value = spec.write(event, zone)
        if spec.xml.startswith("@"):
            attributes.append(f" {spec.xml[1:]}={quote_attr(value)}")
        elif spec.key == "persons":
            people = "".join(
                f"<person{f' id={quote_attr(p.id)}' if p.id else ''}>{escape(p.name)}</person>" for p in event.persons
            )
            elements.append(f"<persons>{people}</persons>")
        elif spec.key == "links":
            elements.append("<links/>")
        else:
            elements.append(f"<{spec.xml}>{escape(value)}</{spec.xml}>")
    return f"<event{''.join(attributes)}>{''.join(elements)}</event>"


def escape(value: Any) -> str:
    return xml_text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_attr(value: Any) -> str:
    escaped = escape(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return f'"{escaped}"'
