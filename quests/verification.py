"""
How each task type is configured and verified: one strategy per type, in
``REGISTRY``.

A strategy cleans an admin's ``config`` into what is stored (secrets hashed,
unknown keys refused), names the config keys clients may see, and verifies
an attempt into an ``Outcome``. Strategies only read: the service records
the outcome and awards points. ``verify`` may call Telegram, so the service
calls it outside its transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from django.core.exceptions import ValidationError

from conferences.models import Attendance, AttendanceStatus
from connections.selectors import accepted_connection_count
from events.models import RSVP, Event
from integrations import telegram
from quests.invites import checked_in_invitee_count
from quests.models import SubmissionStatus, Task, TaskType

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    answer: str = ""
    proof_url: str = ""
    text: str = ""
    # A photo proof: the id of the submitter's completed upload (purpose proof).
    upload: int | None = None


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""
    is_wrong_answer: bool = False
    # For a pending outcome that a task should re-check: seconds to wait.
    recheck_after: float | None = None


def normalise(value: str) -> str:
    """Trim, collapse inner whitespace and fold case: how answers are compared."""
    return " ".join(str(value).split()).casefold()


def hash_answer(value: str, *, salt: str | None = None) -> str:
    """
    Return ``sha256$<salt>$<hex>`` of the normalised value. Codes are short,
    so this hides them from admin screens and dumps rather than resisting a
    brute force of a stolen database; the salt keeps equal codes in two
    tasks from looking equal.
    """
    salt = salt or secrets.token_hex(8)
    digest = hashlib.sha256(f"{salt}:{normalise(value)}".encode()).hexdigest()
    return f"sha256${salt}${digest}"


def answer_matches(value: str, stored: str) -> bool:
    try:
        algorithm, salt, _ = stored.split("$", 2)
    except ValueError:
        return False
    if algorithm != "sha256":
        return False
    return hmac.compare_digest(hash_answer(value, salt=salt), stored)


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("sha256$") and value.count("$") == 2


def _text(config: dict, key: str, *, required: bool = True, max_length: int = 500) -> str | None:
    value = config.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({key: f"'{key}' must be a non-empty string."})
    if len(value) > max_length:
        raise ValidationError({key: f"'{key}' must be at most {max_length} characters."})
    return value.strip()


def _positive_int(config: dict, key: str) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError({key: f"'{key}' must be a positive integer."})
    return value


class Strategy:
    type: ClassVar[str]
    public_keys: ClassVar[tuple[str, ...]] = ()
    allowed_keys: ClassVar[tuple[str, ...]] = ()

    def clean_config(self, config: Any) -> dict:
        """Validate ``config``; return what is stored. Raises Django's ``ValidationError``."""
        if not isinstance(config, dict):
            raise ValidationError("The config must be a JSON object.")
        unknown = sorted(set(config) - set(self.allowed_keys))
        if unknown:
            raise ValidationError(f"Unknown config keys for a {self.type} task: {', '.join(unknown)}.")
        return self._clean(config)

    def _clean(self, config: dict) -> dict:
        return {}

    def public_config(self, config: dict) -> dict:
        return {key: config[key] for key in self.public_keys if key in config}

    def required_input(self, task: Task) -> str | None:
        """The attempt field this type needs, if any."""
        return None

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        raise NotImplementedError


class CodeStrategy(Strategy):
    type = TaskType.CODE
    allowed_keys = ("code", "code_hash")

    def _clean(self, config: dict) -> dict:
        if "code" in config:
            return {"code_hash": hash_answer(_text(config, "code", max_length=200))}
        if _is_hash(config.get("code_hash")):
            return {"code_hash": config["code_hash"]}
        raise ValidationError({"code": "'code' is required."})

    def required_input(self, task: Task) -> str | None:
        return "answer"

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        if answer_matches(attempt.answer, task.config.get("code_hash", "")):
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(SubmissionStatus.REJECTED, "That code is not right.", is_wrong_answer=True)


class QuizStrategy(Strategy):
    type = TaskType.QUIZ
    public_keys = ("question",)
    allowed_keys = ("question", "answers", "answer_hashes")

    def _clean(self, config: dict) -> dict:
        question = _text(config, "question", max_length=1000)
        if "answers" in config:
            answers = config["answers"]
            if (
                not isinstance(answers, list)
                or not answers
                or not all(isinstance(a, str) and a.strip() for a in answers)
            ):
                raise ValidationError({"answers": "'answers' must be a non-empty list of non-empty strings."})
            hashes = [hash_answer(a) for a in dict.fromkeys(normalise(a) for a in answers)]
        else:
            hashes = config.get("answer_hashes")
            if not isinstance(hashes, list) or not hashes or not all(_is_hash(h) for h in hashes):
                raise ValidationError({"answers": "'answers' is required."})
        return {"question": question, "answer_hashes": hashes}

    def required_input(self, task: Task) -> str | None:
        return "answer"

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        if any(answer_matches(attempt.answer, stored) for stored in task.config.get("answer_hashes", [])):
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(SubmissionStatus.REJECTED, "That is not the right answer.", is_wrong_answer=True)


_MEMBER_STATUSES = {"creator", "administrator", "member", "restricted"}


class TelegramJoinStrategy(Strategy):
    type = TaskType.TELEGRAM_JOIN
    public_keys = ("invite_link",)
    allowed_keys = ("chat_id", "invite_link")

    def _clean(self, config: dict) -> dict:
        chat_id = config.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        valid = (isinstance(chat_id, int) and not isinstance(chat_id, bool)) or (
            isinstance(chat_id, str) and chat_id.startswith("@") and len(chat_id) > 1
        )
        if not valid:
            raise ValidationError({"chat_id": "'chat_id' must be a chat id (integer) or an @channel name."})
        cleaned: dict[str, Any] = {"chat_id": chat_id}
        invite_link = _text(config, "invite_link", required=False)
        if invite_link:
            cleaned["invite_link"] = invite_link
        return cleaned

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        where = task.config.get("invite_link") or "the chat"
        if not user.telegram_id:
            return Outcome(SubmissionStatus.REJECTED, "Sign in with Telegram first, so we can see that you joined.")
        try:
            status = telegram.get_chat_member_status(task.config["chat_id"], user.telegram_id)
        except telegram.TelegramRetryAfter as exc:
            return Outcome(SubmissionStatus.PENDING, _CHECK_LATER, recheck_after=max(exc.retry_after, 1))
        except (telegram.TelegramUnavailable, telegram.TelegramDisabled) as exc:
            logger.warning("telegram_join_check_deferred", task_id=task.pk, error=str(exc))
            return Outcome(SubmissionStatus.PENDING, _CHECK_LATER, recheck_after=30)
        except (telegram.TelegramBadRequest, telegram.TelegramForbidden) as exc:
            # The chat is misconfigured or the bot is not in it: a person decides.
            logger.error("telegram_join_check_impossible", task_id=task.pk, error=str(exc))
            return Outcome(SubmissionStatus.PENDING, "We could not check this chat automatically; an organiser will.")
        except Exception:  # an answer the client library cannot parse: never a 500, a person decides
            logger.exception("telegram_join_check_failed", task_id=task.pk)
            return Outcome(SubmissionStatus.PENDING, "We could not check this chat automatically; an organiser will.")
        if status in _MEMBER_STATUSES:
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(SubmissionStatus.REJECTED, f"You have not joined yet: join {where}, then submit again.")


_CHECK_LATER = "We could not reach Telegram; we will check again shortly."


class ConferenceCheckinStrategy(Strategy):
    type = TaskType.CONFERENCE_CHECKIN

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        conference_id = task.quest.conference_id
        if (
            conference_id
            and Attendance.objects.filter(
                conference_id=conference_id, user=user, status=AttendanceStatus.CHECKED_IN
            ).exists()
        ):
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(SubmissionStatus.REJECTED, "You have not checked in yet: show your badge at the entrance.")


class EventCheckinStrategy(Strategy):
    type = TaskType.EVENT_CHECKIN
    public_keys = ("event",)
    allowed_keys = ("event",)

    def _clean(self, config: dict) -> dict:
        event_id = _positive_int(config, "event")
        if not Event.objects.filter(pk=event_id).exists():
            raise ValidationError({"event": f"There is no event {event_id}."})
        return {"event": event_id}

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        if RSVP.objects.filter(event_id=task.config.get("event"), user=user, checked_in_at__isnull=False).exists():
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(
            SubmissionStatus.REJECTED, "You have not checked in at this event yet: ask the host to scan you."
        )


class ConnectionsStrategy(Strategy):
    type = TaskType.CONNECTIONS
    public_keys = ("count",)
    allowed_keys = ("count",)

    def _clean(self, config: dict) -> dict:
        return {"count": _positive_int(config, "count")}

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        needed = task.config.get("count", 1)
        have = accepted_connection_count(user)
        if have >= needed:
            return Outcome(SubmissionStatus.APPROVED)
        return Outcome(
            SubmissionStatus.REJECTED, f"You have {have} of {needed} connections: meet {needed - have} more."
        )


class InviteStrategy(Strategy):
    """
    Done when ``count`` invitees checked in at the quest's conference. The
    services approve it on the check-in that reaches the count; a submission
    only checks again.
    """

    type = TaskType.INVITE
    public_keys = ("count",)
    allowed_keys = ("count",)

    def _clean(self, config: dict) -> dict:
        return {"count": _positive_int(config, "count")}

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        needed = task.config.get("count", 1)
        conference_id = task.quest.conference_id
        have = checked_in_invitee_count(user.pk, conference_id=conference_id) if conference_id else 0
        if have >= needed:
            return Outcome(SubmissionStatus.APPROVED, f"{have} people you invited checked in.")
        return Outcome(SubmissionStatus.REJECTED, f"{have} of {needed} people you invited have checked in so far.")


# What a proof task of each kind takes from the submission.
PROOF_INPUTS = {"url": "proof_url", "text": "text", "photo": "upload"}


class ProofStrategy(Strategy):
    type = TaskType.PROOF
    public_keys = ("kind",)
    allowed_keys = ("kind",)

    def _clean(self, config: dict) -> dict:
        kind = config.get("kind")
        if kind not in PROOF_INPUTS:
            raise ValidationError({"kind": "'kind' must be 'url', 'text' or 'photo'."})
        return {"kind": kind}

    def required_input(self, task: Task) -> str | None:
        return PROOF_INPUTS.get(task.config.get("kind"), "text")

    def verify(self, task: Task, *, user, attempt: Attempt) -> Outcome:
        return Outcome(SubmissionStatus.PENDING, "Waiting for an organiser to review.")


REGISTRY: dict[str, Strategy] = {
    strategy.type: strategy
    for strategy in (
        CodeStrategy(),
        QuizStrategy(),
        TelegramJoinStrategy(),
        ConferenceCheckinStrategy(),
        EventCheckinStrategy(),
        ConnectionsStrategy(),
        InviteStrategy(),
        ProofStrategy(),
    )
}


def strategy_for(task_type: str) -> Strategy:
    return REGISTRY[task_type]


def public_config(task: Task) -> dict:
    """The keys of ``task.config`` a client may see; never a secret."""
    return strategy_for(task.type).public_config(task.config or {})
