from __future__ import annotations

from ibw.errors import ApplicationError, NotFound


class SessionNotFound(NotFound):
    message = "No such session."


class QuestionNotFound(NotFound):
    message = "No such question."


class PollNotFound(NotFound):
    message = "No such poll."


class NotModerator(ApplicationError):
    status_code = 403
    code = "PERMISSION_DENIED"
    message = "Only this session's moderators (its speakers, staff and the conference's organizers) may do this."


class PollClosed(ApplicationError):
    status_code = 409
    code = "POLL_CLOSED"
    message = "This poll is closed."


class FeedbackNotOpen(ApplicationError):
    status_code = 409
    code = "FEEDBACK_NOT_OPEN"
    message = "Feedback opens when the session starts."


class NotCheckedIn(ApplicationError):
    status_code = 403
    code = "NOT_CHECKED_IN"
    message = "Only people checked in at the conference may rate its sessions."


class UnknownOption(ApplicationError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "option: this poll has no such option."

    def __init__(self) -> None:
        super().__init__(details={"option": ["This poll has no such option."]})
