from __future__ import annotations

from ibw.errors import ApplicationError, NotFound, ValidationFailed


class ScheduleInvalid(ValidationFailed):
    message = "The schedule file is not valid."


class ConferenceNotFound(NotFound):
    message = "No such conference."


class SessionNotFound(NotFound):
    message = "No such session in this conference."


class SpeakerNotFound(NotFound):
    message = "No such speaker in this conference."


class RoomNotFound(NotFound):
    message = "No such room in this conference."


class TrackNotFound(NotFound):
    message = "No such track in this conference."


class NotRegistered(NotFound):
    message = "You are not registered for this conference."


class BadgeNotFound(NotFound):
    message = "No attendee has this badge code."


class OrganizerNotFound(NotFound):
    message = "This person is not an organizer of this conference."


class ScheduleUnavailable(ApplicationError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "The schedule could not be fetched."


class ScheduleFetchFailed(ApplicationError):
    status_code = 502
    code = "SCHEDULE_FETCH_FAILED"
    message = "The schedule could not be fetched from schedule_url."


class NoScheduleUrl(ApplicationError):
    status_code = 409
    code = "NO_SCHEDULE_URL"
    message = "This conference has no schedule_url to sync from."
