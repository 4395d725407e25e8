from __future__ import annotations

from ibw.errors import ApplicationError, NotFound


class AlreadyConnected(ApplicationError):
    status_code = 409
    code = "ALREADY_CONNECTED"
    message = "You are already connected, or your request is waiting for an answer."


class ConnectionDeclined(ApplicationError):
    status_code = 409
    code = "CONNECTION_DECLINED"
    message = "This person declined your request recently; you cannot ask again yet."


class CannotTargetSelf(ApplicationError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "You cannot do this with yourself."

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={field: [message]})


class UnknownPerson(NotFound):
    """Also what a blocked person gets: a block must not be discoverable."""

    message = "No such user."


class ConnectionNotFound(NotFound):
    message = "No such connection."
