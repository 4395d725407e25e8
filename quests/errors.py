"""The quests app's errors, with the contract's codes."""

from __future__ import annotations

from ibw.errors import ApplicationError, Conflict


class WrongAnswer(ApplicationError):
    status_code = 400
    code = "WRONG_ANSWER"
    message = "That is not the right answer."


class AlreadyCompleted(Conflict):
    code = "ALREADY_COMPLETED"
    message = "You have already completed this task."


class QuestClosed(Conflict):
    code = "QUEST_CLOSED"
    message = "This quest is not open right now."


class QuestLocked(Conflict):
    code = "QUEST_LOCKED"
    message = "Complete the prerequisite quest first."


class SubmissionPending(Conflict):
    code = "SUBMISSION_PENDING"
    message = "Your submission for this task is waiting for review."


class AlreadyReviewed(Conflict):
    code = "ALREADY_REVIEWED"
    message = "This submission has already been decided."


class AlreadyInvited(Conflict):
    code = "ALREADY_INVITED"
    message = "Someone else already invited you."


class QuestNotCompleted(Conflict):
    code = "QUEST_NOT_COMPLETED"
    message = "Complete every task of this quest to claim its rewards."


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    message = "This reward is all gone."
