from __future__ import annotations

from ibw.errors import ApplicationError


class UploadInvalid(ApplicationError):
    status_code = 400
    code = "UPLOAD_INVALID"
    message = "The uploaded file is not acceptable."


class UploadUsed(ApplicationError):
    status_code = 409
    code = "UPLOAD_USED"
    message = "This upload has already been used."


class UploadNotReady(ApplicationError):
    status_code = 409
    code = "UPLOAD_NOT_READY"
    message = "This upload is not complete yet: send the file, then call complete."


class UploadAlreadyReceived(ApplicationError):
    status_code = 409
    code = "CONFLICT"
    message = "This upload URL has already been used; create a new upload."


class UploadUrlInvalid(ApplicationError):
    status_code = 403
    code = "PERMISSION_DENIED"
    message = "This upload URL is not valid or has expired; create a new upload."
