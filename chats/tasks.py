"""
Celery tasks of chats: ids in, one service call, idempotent (decisions and
posts are claimed by conditional UPDATEs before their Telegram call).
"""

from __future__ import annotations

from celery import shared_task

from ibw.tasks import enqueue


def _services():
    # chats.services imports this module to queue these tasks.
    from chats import services

    return services


@shared_task(
    name="chats.send_join_decisions", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def send_join_decisions_task(self, *, request_ids: list[int]) -> None:
    """
    Approve or decline each pending join request once, then drain the
    others as the one decision lane; a 429, a 5xx or the end of the budget
    runs it again later.
    """
    retry_in = _services().send_join_decisions(request_ids)
    if retry_in and not self.request.is_eager:
        enqueue(send_join_decisions_task, countdown=retry_in, request_ids=request_ids)


@shared_task(name="chats.send_posts", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_posts_task(self, *, source: str | None = None) -> None:
    """Send the due posts into announcements chats (of ``source``, or all)."""
    result = _services().send_posts(source)
    if not result.drained and not self.request.is_eager:
        enqueue(send_posts_task, countdown=result.paused_for or None, source=source)


@shared_task(name="chats.post_schedule_change", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def post_schedule_change_task(*, conference_id: int, source: str, title: str, body: str) -> None:
    """
    Sent by ``conferences.changes`` (a lower layer, by this name) when a
    schedule change's debounce window closes: post the net change into the
    conference's active announcements chats, once per ``source``.
    """
    result = _services().post_schedule_change(conference_id, source=source, title=title, body=body)
    if not result.drained:
        enqueue(send_posts_task, countdown=result.paused_for or None, source=source)


@shared_task(name="chats.sweep", ignore_result=True)
def sweep_task() -> dict:
    return _services().sweep()


@shared_task(name="chats.revoke_invite_links", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def revoke_invite_links_task(*, links: list[tuple[int, str]]) -> None:
    """Revoke personal invite links of an erased person at Telegram (``revokeChatInviteLink``); idempotent."""
    _services().revoke_invite_links(links)
