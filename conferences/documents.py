"""
The schedule documents, stored ready to send: ``schedule.json`` and
``schedule.xml``, each plain and gzip-compressed, in Redis (shared by every
web process, so the processes stay stateless).

Keys, per conference slug:

- ``schedule:<slug>:head``: the newest agenda version known to have
  committed. Only ever raised (a Lua max), by ``agenda_changed`` right after
  a change commits, or from the database by a request that found no head.
  It expires after ``HEAD_SECONDS``, which bounds how long a change whose
  process died between its commit and that hook could stay unseen.
- ``schedule:<slug>:<json|xml>:<plain|gzip>``: ``b"<version> <etag>\\n"``
  followed by the bytes to send, and the same key with ``:tag`` holding
  only ``b"<version> <etag>"``, so a revalidation (304) reads a few bytes.
- ``schedule:<slug>:lock``: held by the one process building.

A request reads the head and its document in one round trip and sends the
document when it is at least as new as the head: no SQL at all. Otherwise
one process builds (the Celery task enqueued after the change, or the first
request that takes the lock) while the other requests send the previous
version they find, or wait for the build when there is none. Nothing else
builds, so a burst of requests after a change costs one build. If Redis is
unreachable the document is built for the request from the database (and
logged), since the agenda must still be served.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import redis
import structlog
from django.conf import settings

from conferences.errors import ConferenceNotFound
from conferences.export import FrabSchedule, build_schedule, schedule_json, schedule_xml
from conferences.models import Conference

logger = structlog.get_logger(__name__)

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json", "xml": "application/xml; charset=utf-8"}
HEAD_SECONDS = 300
DOCUMENT_SECONDS = 7 * 24 * 3600
LOCK_SECONDS = 60
WAIT_SECONDS = 30
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)
# Raise a key to ARGV[1] unless it already holds as much; (re)arm its expiry.
_RAISE_HEAD = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) >= current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Document:
    version: int
    etag: str
    # None when the caller said it would not send the body (its tag matched).
    body: bytes | None


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)


def _key(slug: str, *parts: str) -> str:
    return ":".join(["schedule", slug, *parts])


def etag_for(conference_id: int, version: int, encoding: str) -> str:
    """A strong tag per representation: the conference and its agenda version (and ``-gzip`` for the compressed one)."""
    return f'"{conference_id}-{version}{"-gzip" if encoding == "gzip" else ""}"'


def _pack(document: Document) -> bytes:
    assert document.body is not None
    return f"{document.version} {document.etag}\n".encode() + document.body


def _unpack(raw: bytes | str | None) -> Document | None:
    if not raw:
        return None
    if isinstance(raw, str):
        raw = raw.encode()
    header, _, body = raw.partition(b"\n")
    version, _, etag = header.decode().partition(" ")
    return Document(version=int(version), etag=etag, body=body)


def _unpack_tag(raw: bytes | str | None) -> Document | None:
    if not raw:
        return None
    version, _, etag = (raw.decode() if isinstance(raw, bytes) else raw).partition(" ")
    return Document(version=int(version), etag=etag, body=None)


def encode_documents(schedule: FrabSchedule) -> dict[tuple[str, str], Document]:
    """Every representation of ``schedule``: (format, encoding) → document."""
    documents = {}
    for fmt, body in (("json", schedule_json(schedule)), ("xml", schedule_xml(schedule))):
        for encoding, data in (("plain", body), ("gzip", gzip.compress(body, compresslevel=9, mtime=0))):
            documents[(fmt, encoding)] = Document(
                version=schedule.version, etag=etag_for(schedule.conference_id, schedule.version, encoding), body=data
            )
    return documents


def raise_head(slug: str, version: int) -> None:
    """Record that agenda ``version`` of ``slug`` has committed (never lowers the head)."""
    _redis().eval(_RAISE_HEAD, 1, _key(slug, "head"), version, HEAD_SECONDS)


def agenda_changed(slug: str, version: int) -> None:
    """
    After-commit hook of every agenda change: raise the head, so the very
    next request knows its stored document is stale. A Redis outage is
    logged and left to ``HEAD_SECONDS``.
    """
    try:
        raise_head(slug, version)
    except _REDIS_DOWN as exc:
        logger.warning("schedule_head_not_raised", conference=slug, version=version, error=str(exc))


def forget(slug: str) -> None:
    """Drop every stored document of ``slug`` (after the conference is deleted or renamed)."""
    try:
        _redis().delete(
            _key(slug, "head"),
            *(
                _key(slug, fmt, encoding, *tag)
                for fmt in FORMATS
                for encoding in ("plain", "gzip")
                for tag in ((), ("tag",))
            ),
        )
    except _REDIS_DOWN as exc:
        logger.warning("schedule_documents_not_forgotten", conference=slug, error=str(exc))


def _store(slug: str, documents: dict[tuple[str, str], Document]) -> None:
    """Store ``documents`` unless newer ones are there already (callers hold the lock)."""
    client = _redis()
    version = next(iter(documents.values())).version
    stored = _unpack(client.get(_key(slug, "json", "plain")))
    if stored is not None and stored.version > version:
        return
    pipe = client.pipeline()
    for (fmt, encoding), document in documents.items():
        pipe.set(_key(slug, fmt, encoding), _pack(document), ex=DOCUMENT_SECONDS)
        pipe.set(_key(slug, fmt, encoding, "tag"), f"{document.version} {document.etag}", ex=DOCUMENT_SECONDS)
    pipe.execute()
    client.eval(_RAISE_HEAD, 1, _key(slug, "head"), version, HEAD_SECONDS)


def rebuild(conference_id: int) -> int | None:
    """
    Build and store conference ``conference_id``'s documents if the stored
    ones are older than its agenda version; return the version stored, or
    None when the conference is gone. Waits for the lock, so it never
    builds alongside a request that is already building.
    """
    conference = Conference.objects.filter(pk=conference_id).values("slug", "agenda_version").first()
    if conference is None:
        return None
    slug = conference["slug"]
    client = _redis()
    with client.lock(_key(slug, "lock"), timeout=LOCK_SECONDS, blocking_timeout=WAIT_SECONDS):
        stored = _unpack(client.get(_key(slug, "json", "plain")))
        if stored is not None and stored.version >= conference["agenda_version"]:
            client.eval(_RAISE_HEAD, 1, _key(slug, "head"), stored.version, HEAD_SECONDS)
            return stored.version
        started = time.monotonic()
        schedule = build_schedule(conference_id)
        if schedule is None:
            return None
        _store(slug, encode_documents(schedule))
        _log_build(schedule, started, by="task")
        return schedule.version


def _log_build(schedule: FrabSchedule, started: float, *, by: str) -> None:
    logger.info(
        "schedule_documents_built",
        conference=schedule.slug,
        version=schedule.version,
        events=schedule.event_count,
        ms=round((time.monotonic() - started) * 1000, 1),
        by=by,
    )


def _build_for(slug: str) -> dict[tuple[str, str], Document]:
    started = time.monotonic()
    conference_id = Conference.objects.filter(slug=slug).values_list("pk", flat=True).first()
    schedule = build_schedule(conference_id) if conference_id is not None else None
    if schedule is None:
        raise ConferenceNotFound()
    documents = encode_documents(schedule)
    _log_build(schedule, started, by="request")
    return documents


def schedule_document(slug: str, *, fmt: str, encoding: str, unless: Callable[[str], bool] | None = None) -> Document:
    """
    Return the current ``fmt`` document of conference ``slug`` in ``encoding``
    (``plain`` or ``gzip``), or raise ``NotFound``. When ``unless(etag)``
    is true for the current tag, the body is not read (``body`` is None):
    the caller answers 304.

    Zero SQL queries when the stored document is current: one Redis round
    trip (two for a tag that no longer matches). Otherwise see the module
    docstring: one builder under the lock, the others get the previous
    version or wait for the first one.
    """
    client = _redis()
    key = _key(slug, fmt, encoding)
    try:
        if unless is not None:
            head_raw, tag_raw = client.mget(_key(slug, "head"), _key(slug, fmt, encoding, "tag"))
            tag = _unpack_tag(tag_raw)
            if head_raw is not None and tag is not None and tag.version >= int(head_raw) and unless(tag.etag):
                return tag
        head_raw, raw = client.mget(_key(slug, "head"), key)
        document = _unpack(raw)
        if head_raw is not None and document is not None and document.version >= int(head_raw):
            return document
        if head_raw is None:
            version = Conference.objects.filter(slug=slug).values_list("agenda_version", flat=True).first()
            if version is None:
                raise ConferenceNotFound()
            raise_head(slug, version)
            head = int(client.get(_key(slug, "head")) or version)
        else:
            head = int(head_raw)
        if document is not None and document.version >= head:
            return document
        lock = client.lock(_key(slug, "lock"), timeout=LOCK_SECONDS, blocking=False)
        if lock.acquire():
            try:
                # Whoever held the lock before may have just stored it.
                fresh = _unpack(client.get(key))
                if fresh is not None and fresh.version >= head:
                    return fresh
                documents = _build_for(slug)
                _store(slug, documents)
                return documents[(fmt, encoding)]
            finally:
                try:
                    lock.release()
                except redis.exceptions.LockError:
                    logger.warning("schedule_lock_expired_while_building", conference=slug)
        if document is not None:
            return document  # someone is building the new version: the previous one meanwhile
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.02)
            document = _unpack(client.get(key))
            if document is not None:
                return document
    except _REDIS_DOWN as exc:
        logger.warning("schedule_store_unavailable", conference=slug, error=str(exc))
    return _build_for(slug)[(fmt, encoding)]
