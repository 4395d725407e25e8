"""
Reading frab-compatible ``schedule.json`` files (what frab and pretalx export).

``parse_schedule`` validates the structure against the c3voc schema shipped
in ``conferences/schema/schedule.json`` and returns plain dataclasses; it
writes nothing, so a file that fails is refused before any change. The
schema's ``pattern`` and ``additionalProperties`` keywords are ignored:
real exporters break both (acronyms and slugs outside the pattern, the
``answers`` key pretalx adds to events), while wrong types, missing
required fields and misplaced arrays still fail.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from jsonschema import validators
from jsonschema.exceptions import best_match

from conferences.errors import ScheduleInvalid

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "schedule.json"
MAX_REPORTED_ERRORS = 20


@dataclass(frozen=True)
class ParsedPerson:
    # ``external_id`` is the exporter's guid or code; empty when the file
    # gives neither, and the person is then known by name alone.
    external_id: str
    name: str
    bio: str | None = None
    avatar_url: str | None = None
    links: list[dict] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return ("id", self.external_id) if self.external_id else ("name", self.name)


@dataclass(frozen=True)
class ParsedEvent:
    guid: str
    title: str
    abstract: str
    description: str
    starts_at: datetime
    ends_at: datetime
    room: str
    track: str | None
    type: str
    language: str
    url: str
    persons: list[ParsedPerson]


@dataclass
class ParsedSchedule:
    title: str
    acronym: str
    starts_on: date | None
    ends_on: date | None
    time_zone_name: str | None
    rooms: list[tuple[str, str]] = field(default_factory=list)  # (name, guid) in first-seen order
    tracks: dict[str, str] = field(default_factory=dict)  # name -> colour ("" when none)
    events: list[ParsedEvent] = field(default_factory=list)


def _ignore(validator, value, instance, schema):
    return None


@cache
def _validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    base = validators.validator_for(schema)
    lenient = validators.extend(base, {"pattern": _ignore, "additionalProperties": _ignore})
    return lenient(schema)


def _describe(error, data: Any) -> str:
    if error.schema is False:
        # jsonschema reports a forbidden key (``"rooms": false``) at its parent's
        # path without the key itself; find the key so the message names it.
        parent = data
        for step in error.absolute_path:
            parent = parent[step]
        keys = [key for key, value in parent.items() if value is error.instance] if isinstance(parent, dict) else []
        if keys:
            return f"{error.json_path}.{keys[0]}: this key is not allowed here"
        return f"{error.json_path}: this value is not allowed here"
    message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{error.json_path}: {message}"


def validate_schedule(data: Any) -> None:
    """Raise ``ScheduleInvalid`` naming the first structural problem (and listing the rest)."""
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    headline = best_match(errors)
    listed = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])[:MAX_REPORTED_ERRORS]
    raise ScheduleInvalid(
        f"The schedule file is not valid: {_describe(headline, data)}",
        details={"schedule": [_describe(e, data) for e in listed]},
    )


def _fail(path: str, problem: str) -> ScheduleInvalid:
    return ScheduleInvalid(
        f"The schedule file is not valid: {path}: {problem}", details={"schedule": [f"{path}: {problem}"]}
    )


def _text(value: Any, limit: int | None = None) -> str:
    text = "" if value is None else str(value)
    return text[:limit] if limit else text


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _datetime(value: str, *, path: str, zone: zoneinfo.ZoneInfo | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _fail(path, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise _fail(path, f"{value!r} has no UTC offset and the file names no valid time_zone_name")
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _duration(value: str, *, path: str) -> timedelta:
    parts = str(value).split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or any(n < 0 for n in numbers):
        raise _fail(path, f"{value!r} is not a duration such as 00:30")
    hours, minutes, seconds = (numbers + [0])[:3]
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _person(raw: dict, *, base_url: str) -> ParsedPerson | None:
    name = _text(raw.get("name") or raw.get("public_name"), 200).strip()
    external_id = _text(raw.get("guid") or raw.get("code"), 64).strip()
    if not name:
        return None
    avatar = raw.get("avatar")
    links = raw.get("links")
    return ParsedPerson(
        external_id=external_id,
        name=name,
        bio=_text(raw["biography"]) if "biography" in raw else None,
        avatar_url=urljoin(base_url, avatar)[:500] if avatar else None,
        links=[{"url": link.get("url", ""), "title": link.get("title", "")} for link in links]
        if isinstance(links, list)
        else None,
    )


def parse_schedule(data: Any, *, default_timezone: str = "UTC") -> ParsedSchedule:
    """
    Validate ``data`` (a decoded ``schedule.json``) and return what it describes.

    Times come from each event's ``date`` (which carries its offset);
    ``time_zone_name``, or ``default_timezone`` when the file has none, only
    interprets dates without an offset. Raises ``ScheduleInvalid`` naming the
    problem; writes nothing.
    """
    validate_schedule(data)
    schedule = data["schedule"]
    conference = schedule["conference"]
    base_url = _text(schedule.get("base_url"))
    zone = _zone(conference.get("time_zone_name")) or _zone(default_timezone)
    parsed = ParsedSchedule(
        title=_text(conference.get("title"), 200),
        acronym=_text(conference.get("acronym"), 80),
        starts_on=_date(conference.get("start")),
        ends_on=_date(conference.get("end")),
        time_zone_name=conference.get("time_zone_name") if _zone(conference.get("time_zone_name")) else None,
    )
    room_guids: dict[str, str] = {}

    def see_room(name: str, guid: str = "") -> None:
        if name not in room_guids or guid and not room_guids[name]:
            room_guids[name] = guid

    for room in conference.get("rooms") or []:
        see_room(_text(room["name"], 200), _text(room.get("guid"), 64))
    for track in conference.get("tracks") or []:
        name = _text(track.get("name"), 200).strip()
        if name:
            parsed.tracks[name] = _text(track.get("color"), 16)

    seen_guids: dict[str, str] = {}
    for day_index, day in enumerate(conference["days"]):
        for room_key, events in day["rooms"].items():
            for event_index, event in enumerate(events):
                path = f"$.schedule.conference.days[{day_index}].rooms[{json.dumps(room_key)}][{event_index}]"
                guid = _text(event["guid"], 64).strip()
                if not guid:
                    raise _fail(f"{path}.guid", "an event needs a guid")
                if guid in seen_guids:
                    raise _fail(f"{path}.guid", f"{guid!r} is used by another event too ({seen_guids[guid]})")
                seen_guids[guid] = path
                starts_at = _datetime(event["date"], path=f"{path}.date", zone=zone)
                if event.get("end"):
                    ends_at = _datetime(event["end"], path=f"{path}.end", zone=zone)
                else:
                    ends_at = starts_at + _duration(event["duration"], path=f"{path}.duration")
                if ends_at < starts_at:
                    raise _fail(path, "the event ends before it starts")
                room = _text(event.get("room") or room_key, 200).strip()
                see_room(room)
                track = _text(event.get("track"), 200).strip() or None
                if track:
                    parsed.tracks.setdefault(track, "")
                persons: list[ParsedPerson] = []
                keys: set[tuple[str, str]] = set()
                for raw in event["persons"]:
                    person = _person(raw, base_url=base_url)
                    if person is not None and person.key not in keys:
                        keys.add(person.key)
                        persons.append(person)
                parsed.events.append(
                    ParsedEvent(
                        guid=guid,
                        title=_text(event["title"], 300),
                        abstract=_text(event.get("abstract")),
                        description=_text(event.get("description")),
                        starts_at=starts_at,
                        ends_at=ends_at,
                        room=room,
                        track=track,
                        type=_text(event.get("type"), 100),
                        language=_text(event.get("language"), 16),
                        url=urljoin(base_url, event["url"])[:500] if event.get("url") else "",
                        persons=persons,
                    )
                )
    parsed.rooms = list(room_guids.items())
    return parsed
