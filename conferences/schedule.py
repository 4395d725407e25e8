"""
Reading frab-compatible ``schedule.json`` files (what frab and pretalx export).

``parse_schedule`` validates the structure against the c3voc schema shipped
in ``conferences/schema/schedule.json`` and returns plain dataclasses; it
writes nothing, so a file that fails is refused before any change. The
schema's ``pattern`` and ``additionalProperties`` keywords are ignored:
real exporters break both (acronyms and slugs outside the pattern, the
``answers`` key pretalx adds to events), while wrong types, missing
required fields and misplaced arrays still fail. Each event is read by
``conferences.frab.read_event``, the definition of the format that the
exporter writes with too.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import best_match

from conferences.errors import ScheduleInvalid
from conferences.frab import FrabEvent, Reading, fail, read_event, text

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "schedule.json"
MAX_REPORTED_ERRORS = 20


@dataclass
class ParsedSchedule:
    title: str
    acronym: str
    starts_on: date | None
    ends_on: date | None
    time_zone_name: str | None
    rooms: list[tuple[str, str]] = field(default_factory=list)  # (name, guid) in first-seen order
    tracks: dict[str, str] = field(default_factory=dict)  # name -> colour ("" when none)
    events: list[FrabEvent] = field(default_factory=list)


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


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


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
    base_url = text(schedule.get("base_url"))
    zone = _zone(conference.get("time_zone_name")) or _zone(default_timezone)
    parsed = ParsedSchedule(
        title=text(conference.get("title"), 200),
        acronym=text(conference.get("acronym"), 80),
        starts_on=_date(conference.get("start")),
        ends_on=_date(conference.get("end")),
        time_zone_name=conference.get("time_zone_name") if _zone(conference.get("time_zone_name")) else None,
    )
    room_guids: dict[str, str] = {}

    def see_room(name: str, guid: str = "") -> None:
        if name not in room_guids or guid and not room_guids[name]:
            room_guids[name] = guid

    for room in conference.get("rooms") or []:
        if text(room["name"], 200).strip():
            see_room(text(room["name"], 200), text(room.get("guid"), 64))
    for track in conference.get("tracks") or []:
        name = text(track.get("name"), 200).strip()
        if name:
            parsed.tracks[name] = text(track.get("color"), 16)

    seen_guids: dict[str, str] = {}
    for day_index, day in enumerate(conference["days"]):
        for room_key, events in day["rooms"].items():
            for event_index, event in enumerate(events):
                path = f"$.schedule.conference.days[{day_index}].rooms[{json.dumps(room_key)}][{event_index}]"
                parsed_event = read_event(event, Reading(path=path, room_key=room_key, zone=zone, base_url=base_url))
                if parsed_event.guid in seen_guids:
                    raise fail(
                        f"{path}.guid",
                        f"{parsed_event.guid!r} is used by another event too ({seen_guids[parsed_event.guid]})",
                    )
                seen_guids[parsed_event.guid] = path
                if parsed_event.room is not None:
                    see_room(parsed_event.room)
                if parsed_event.track:
                    parsed.tracks.setdefault(parsed_event.track, "")
                parsed.events.append(parsed_event)
    parsed.rooms = list(room_guids.items())
    return parsed
