from ibw.errors import ApplicationError, Conflict


class BroadcastFinished(Conflict):
    code = "BROADCAST_FINISHED"
    message = "This broadcast has already finished."


class SegmentUnavailable(ApplicationError):
    status_code = 400
    code = "VALIDATION_ERROR"
    message = "This audience segment is not available."
