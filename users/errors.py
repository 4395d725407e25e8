from ibw.errors import ApplicationError, RateLimited


class TelegramAuthInvalid(ApplicationError):
    status_code = 401
    code = "TELEGRAM_AUTH_INVALID"
    message = "The Telegram login data is not signed correctly."


class TelegramAuthExpired(ApplicationError):
    status_code = 401
    code = "TELEGRAM_AUTH_EXPIRED"
    message = "The Telegram login data is too old; log in again."


class TelegramLoginDisabled(ApplicationError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "Telegram login is not configured on this server."


class LoginTokenUsed(ApplicationError):
    status_code = 410
    code = "LOGIN_TOKEN_USED"
    message = "This login link has already been used."


class LoginTokenExpired(ApplicationError):
    status_code = 410
    code = "LOGIN_TOKEN_EXPIRED"
    message = "This login link has expired; start again."


class InvalidRefreshToken(ApplicationError):
    status_code = 401
    code = "INVALID_TOKEN"
    message = "The refresh token is invalid, expired or already used."


class EnrichmentCooldown(RateLimited):
    message = "Your profile was enriched a short while ago; try again later."
