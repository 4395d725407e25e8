from ibw.errors import ApplicationError


class BotNotAdmin(ApplicationError):
    status_code = 409
    code = "BOT_NOT_ADMIN"
    message = "The bot is not an administrator of this chat with the rights it needs."


class ChatLinkedElsewhere(ApplicationError):
    status_code = 409
    code = "CHAT_LINKED_ELSEWHERE"
    message = "This chat is already linked to another conference or event."


class NotRegistered(ApplicationError):
    status_code = 403
    code = "NOT_REGISTERED"
    message = "Only people registered here may see its chats."


class ChatNotUsable(ApplicationError):
    """A chat id Telegram does not know, or a private chat with a person: 400."""

    status_code = 400
    code = "VALIDATION_ERROR"
    message = "This is not a group or channel the bot can see."
