from ibw.errors import Conflict


class BroadcastFinished(Conflict):
    code = "BROADCAST_FINISHED"
    message = "This broadcast has already finished."
