from __future__ import annotations

from ibw.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class NotAttending(ApplicationError):
    status_code = 409
    code = "NOT_ATTENDING"
    message = "Both people must be registered for the conference."


class AlreadyRequested(ApplicationError):
    status_code = 409
    code = "ALREADY_REQUESTED"
    message = "A meeting between you two in this slot is already requested or accepted."


class SlotTaken(ApplicationError):
    status_code = 409
    code = "SLOT_TAKEN"
    message = "One of you already has an accepted meeting in this slot."


class NoTableFree(ApplicationError):
    status_code = 409
    code = "NO_TABLE_FREE"
    message = "Every table is taken in this slot."


class MeetingNotFound(NotFound):
    message = "No such meeting."


class MeetingClosed(Conflict):
    message = "This meeting was already answered or cancelled."


class WindowOverlaps(Conflict):
    message = "This window overlaps another meeting window of the conference."


class InvalidMeetingInput(ValidationFailed):
    """A 400 naming the field at fault, in the contract's ``details`` shape."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={field: [message]})
