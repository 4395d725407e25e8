from __future__ import annotations

from ibw.errors import NotFound


class EventNotFound(NotFound):
    message = "No such event."


class PersonNotFound(NotFound):
    message = "No such person."
