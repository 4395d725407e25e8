"""The real schedule exports in tests/data, and small edits of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
VALID = {"pretalx-democon.json": 36, "pretalx-rc3.json": 48, "frab-camp2019.json": 79}


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def events_of(data: dict) -> list[dict]:
    return [
        event for day in data["schedule"]["conference"]["days"] for events in day["rooms"].values() for event in events
    ]


def edited(data: dict) -> dict:
    return copy.deepcopy(data)
