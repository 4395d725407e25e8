"""
Who to meet at a conference: a transparent score over what two people share.

Points, each with the sentence shown to the person:

- an interest both listed (``User.interests``): 3 each;
- a topic shared through the enrichment tags from public profiles
  (``User.enrichment_tags``, against either side's interests or tags): 2 each;
- complementary roles read off job titles (``COMPLEMENTARY_ROLES``): 3 to 5;
- a session both bookmarked at this conference: 2 each, at most 6 counted;
- a side event both are going to (this conference's, or week-wide ones
  without a conference): 3 each, at most 3 counted.

Matching is case- and whitespace-insensitive. Candidates are the people
attending the conference with ``directory_visible``, except the caller,
anyone with a connection row with them (pending, accepted or declined) and
anyone blocked either way; people with no points in common are left out.

The computation is a fixed number of indexed queries (never one per
candidate) and a pass in Python. Two cache levels in Redis: the conference's
``AttendeeIndex`` (inverted lists from each normalized term to the people
listing it, and roles per attendee; one query to build) for ``INDEX_TTL``
seconds, shared by all callers; and each caller's best ``CACHE_TOP``
results for ``CACHE_TTL`` seconds. Exclusions (connections, blocks,
``directory_visible``) are applied again on every read, so a cached list
never shows someone just blocked or connected. Both caches fail open: with
Redis down, every call computes.

Each result also offers ``next_free_slot``, a meeting slot free for both
people; that is why this module lives in ``meetings`` (``connections`` sits
below it and cannot read meeting slots). It is computed on every read.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache

import structlog
from django.core.cache import cache
from django.db.models import Q, QuerySet

from conferences.models import Attendance, Bookmark, Conference
from connections.selectors import blocked_or_connected_user_ids
from events.models import RSVP, RSVPStatus
from meetings.selectors import FreeSlot, next_free_slots
from users.models import User

logger = structlog.get_logger(__name__)

CACHE_TTL = 300
INDEX_TTL = 120
CACHE_TOP = 100
MAX_LIMIT = 50

WEIGHT_INTEREST = 3
WEIGHT_TOPIC = 2
WEIGHT_SESSION = 2
MAX_SESSIONS_COUNTED = 6
WEIGHT_EVENT = 3
MAX_EVENTS_COUNTED = 3
MAX_NAMED = 5

# Role → keywords looked for as whole words in a job title (lowercased).
ROLE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "founder": ("founder", "co-founder", "cofounder", "ceo", "founding"),
    "investor": ("investor", "vc", "venture", "angel", "general partner", "managing partner", "fund", "investments"),
    "hiring": ("recruiter", "recruiting", "talent", "hiring", "head of people"),
    "job_seeker": ("job seeker", "looking for", "open to work", "seeking", "between roles", "student"),
    "engineer": ("engineer", "developer", "programmer", "dev"),
}
# How people read each role in "you're …, they're …".
ROLE_PHRASES = {
    "founder": "a founder",
    "investor": "an investor",
    "hiring": "hiring",
    "job_seeker": "looking for a job",
    "engineer": "an engineer",
}
# Unordered pairs of roles that have reasons to meet, with their points.
COMPLEMENTARY_ROLES: dict[frozenset[str], int] = {
    frozenset({"founder", "investor"}): 5,
    frozenset({"hiring", "job_seeker"}): 5,
    frozenset({"founder", "engineer"}): 3,
}
_ROLE_PATTERNS = {
    role: re.compile(r"\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b")
    for role, keywords in ROLE_KEYWORDS.items()
}


@dataclass(frozen=True)
class Recommendation:
    user: User
    score: int
    reasons: list[str]
    # The first upcoming meeting slot free for both people (never cached: it changes with every accept).
    next_free_slot: FreeSlot | None = None


def _norm(term: str) -> str:
    return " ".join(term.split()).lower()


def _terms(values) -> dict[str, str]:
    """Normalized term → the spelling first seen, for a JSON list that may hold anything."""
    out: dict[str, str] = {}
    if isinstance(values, list):
        for value in values:
            if isinstance(value, str) and value.strip():
                out.setdefault(_norm(value), " ".join(value.split()))
    return out


def _term_keys(values) -> set[str]:
    if not isinstance(values, list):
        return set()
    return {_norm(v) for v in values if isinstance(v, str) and v.strip()}


@lru_cache(maxsize=4096)
def roles_in_title(title: str) -> frozenset[str]:
    """Return the roles a job title says (``"Co-founder & CEO"`` → founder)."""
    text = title.casefold()
    return frozenset(role for role, pattern in _ROLE_PATTERNS.items() if pattern.search(text))


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    return shown if len(items) <= MAX_NAMED else f"{shown} and {len(items) - MAX_NAMED} more"


def _session_reason(sessions: list[tuple[str, str | None]]) -> str:
    count = len(sessions)
    tracks = Counter(track for _, track in sessions if track)
    if count == 1:
        title, track = sessions[0]
        return f"You both bookmarked “{title}”" + (f" in the {track} track" if track else "")
    if tracks:
        track, in_track = tracks.most_common(1)[0]
        if in_track == count:
            return f"You both bookmarked {count} sessions in the {track} track"
        if in_track >= 2:
            return f"You both bookmarked {count} sessions, {in_track} in the {track} track"
    return f"You both bookmarked {count} sessions"


def _event_reason(titles: list[str]) -> str:
    if len(titles) == 1:
        return f"You are both going to “{titles[0]}”"
    quoted = [f"“{t}”" for t in sorted(titles)]
    return f"You are both going to {len(titles)} side events: {_names(quoted)}"


def _cache_key(user_id: int, conference_id: int) -> str:
    return f"recs:v1:{user_id}:{conference_id}"


def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception as exc:  # the cache is an optimisation: fail open on any backend error
        logger.warning("recommendations_cache_unavailable", error=str(exc))
        return None


def _cache_set(key: str, value, ttl: int = CACHE_TTL) -> None:
    try:
        cache.set(key, value, ttl)
    except Exception as exc:  # as above
        logger.warning("recommendations_cache_unavailable", error=str(exc))


def clear_cached_recommendations(user: User, conference: Conference) -> None:
    try:
        cache.delete(_cache_key(user.pk, conference.pk))
    except Exception as exc:  # as above
        logger.warning("recommendations_cache_unavailable", error=str(exc))


def _visible_attendances(conference: Conference) -> QuerySet[Attendance]:
    return Attendance.objects.filter(conference=conference, user__directory_visible=True, user__is_active=True)


@dataclass
class AttendeeIndex:
    """
    What scoring needs from a conference's visible attendees, built in one
    query and shared by every caller for ``INDEX_TTL`` seconds: inverted
    lists from a normalized term to the people listing it, and the roles
    read off each job title.
    """

    visible: set[int]
    interest_postings: dict[str, list[int]]
    tag_postings: dict[str, list[int]]
    roles: dict[int, frozenset[str]]


def build_attendee_index(conference: Conference) -> AttendeeIndex:
    """Build the index for ``conference`` (one query; uncached)."""
    visible: set[int] = set()
    interest_postings: dict[str, list[int]] = defaultdict(list)
    tag_postings: dict[str, list[int]] = defaultdict(list)
    roles: dict[int, frozenset[str]] = {}
    for other_id, interests, tags, job_title in _visible_attendances(conference).values_list(
        "user_id", "user__interests", "user__enrichment_tags", "user__job_title"
    ):
        visible.add(other_id)
        for key in _term_keys(interests):
            interest_postings[key].append(other_id)
        for key in _term_keys(tags):
            tag_postings[key].append(other_id)
        their_roles = roles_in_title(job_title) if job_title else frozenset()
        if their_roles:
            roles[other_id] = their_roles
    return AttendeeIndex(
        visible=visible, interest_postings=dict(interest_postings), tag_postings=dict(tag_postings), roles=roles
    )


def attendee_index(conference: Conference) -> AttendeeIndex:
    """Return the conference's attendee index from the cache, building it when missing."""
    key = f"recs:index:v1:{conference.pk}"
    index = _cache_get(key)
    if index is None:
        index = build_attendee_index(conference)
        _cache_set(key, index, INDEX_TTL)
    return index


@lru_cache(maxsize=1024)
def _best_role_pair(my_roles: frozenset[str], their_roles: frozenset[str]) -> tuple[int, str, str] | None:
    """(points, my role, their role) for the best complementary pair, or ``None``."""
    best = None
    for mine in sorted(my_roles):
        for theirs in sorted(their_roles):
            points = COMPLEMENTARY_ROLES.get(frozenset({mine, theirs}), 0) if mine != theirs else 0
            if points and (best is None or points > best[0]):
                best = (points, mine, theirs)
    return best


def _attendee_matches(
    index: AttendeeIndex, keys: set[str], my_roles: frozenset[str]
) -> tuple[dict[int, tuple[set[str], set[str]]], dict[int, tuple[int, str, str]]]:
    """
    Return ``(terms, roles)``: ``terms`` maps an attendee to (their
    interests among ``keys``, their enrichment tags among ``keys``);
    ``roles`` to (points, my role, their role) for the best complementary
    pair. Reads only the posting lists of ``keys``.
    """
    terms: dict[int, tuple[set[str], set[str]]] = {}
    for position, postings in ((0, index.interest_postings), (1, index.tag_postings)):
        for key in keys:
            for other_id in postings.get(key, ()):
                if other_id not in terms:
                    terms[other_id] = (set(), set())
                terms[other_id][position].add(key)
    roles: dict[int, tuple[int, str, str]] = {}
    if any(pair & my_roles for pair in COMPLEMENTARY_ROLES):
        for other_id, their_roles in index.roles.items():
            best = _best_role_pair(my_roles, their_roles)
            if best:
                roles[other_id] = best
    return terms, roles


def score_candidates(user: User, conference: Conference) -> list[tuple[int, int, list[str]]]:
    """
    Return ``[(user_id, score, reasons)]`` for the best ``CACHE_TOP``
    candidates at ``conference``, best first (ties by id), uncached.

    At most eight queries whatever the number of attendees; each returns
    only people who share something with ``user``. Reasons are worded for
    the best candidates only.
    """
    excluded = blocked_or_connected_user_ids(user) | {user.pk}

    my_interests = _terms(user.interests)
    my_topics = {**my_interests, **{k: v for k, v in _terms(user.enrichment_tags).items() if k not in my_interests}}
    index = attendee_index(conference)
    visible = index.visible
    terms, roles = _attendee_matches(index, set(my_topics), roles_in_title(user.job_title or ""))

    my_sessions = {
        session_id: (title, track)
        for session_id, title, track in Bookmark.objects.filter(user=user, session__conference=conference).values_list(
            "session_id", "session__title", "session__track__name"
        )
    }
    shared_sessions: dict[int, list[int]] = defaultdict(list)
    if my_sessions:
        # Filtered against ``visible`` here: joining users and attendances in SQL cost 10x.
        for other_id, session_id in Bookmark.objects.filter(session_id__in=list(my_sessions)).values_list(
            "user_id", "session_id"
        ):
            if other_id in visible:
                shared_sessions[other_id].append(session_id)

    my_events = dict(
        RSVP.objects.filter(user=user, status=RSVPStatus.GOING)
        .filter(Q(event__conference=conference) | Q(event__conference__isnull=True))
        .values_list("event_id", "event__title")
    )
    shared_events: dict[int, list[int]] = defaultdict(list)
    if my_events:
        for other_id, event_id in RSVP.objects.filter(
            event_id__in=list(my_events), status=RSVPStatus.GOING
        ).values_list("user_id", "event_id"):
            if other_id in visible:
                shared_events[other_id].append(event_id)

    my_interest_keys = set(my_interests)
    no_terms: tuple[set[str], set[str]] = (set(), set())

    def shared_terms(other_id: int) -> tuple[list[str], list[str]]:
        """(interests both listed, other topics in common), in the caller's order and spelling."""
        their_interests, their_tags = terms.get(other_id, no_terms)
        shared = their_interests & my_interest_keys
        topics = (their_interests | their_tags) - shared
        return [n for k, n in my_topics.items() if k in shared], [n for k, n in my_topics.items() if k in topics]

    scores: list[tuple[int, int]] = []
    for other_id in (terms.keys() | roles.keys() | shared_sessions.keys() | shared_events.keys()) - excluded:
        their_interests, their_tags = terms.get(other_id, no_terms)
        shared_count = len(their_interests & my_interest_keys)
        score = WEIGHT_INTEREST * shared_count + WEIGHT_TOPIC * (len(their_interests | their_tags) - shared_count)
        if other_id in roles:
            score += roles[other_id][0]
        if other_id in shared_sessions:
            score += WEIGHT_SESSION * min(len(shared_sessions[other_id]), MAX_SESSIONS_COUNTED)
        if other_id in shared_events:
            score += WEIGHT_EVENT * min(len(shared_events[other_id]), MAX_EVENTS_COUNTED)
        if score:
            scores.append((-score, other_id))

    ranked: list[tuple[int, int, list[str]]] = []
    for negative_score, other_id in heapq.nsmallest(CACHE_TOP, scores):
        shared, topics = shared_terms(other_id)
        reasons = []
        if shared:
            reasons.append(f"Shared interests: {_names(shared)}")
        if topics:
            reasons.append(f"Related topics on your profiles: {_names(topics)}")
        if other_id in roles:
            _, mine, theirs = roles[other_id]
            reasons.append(f"Complementary roles: you're {ROLE_PHRASES[mine]}, they're {ROLE_PHRASES[theirs]}")
        if other_id in shared_sessions:
            reasons.append(_session_reason([my_sessions[s] for s in sorted(shared_sessions[other_id])]))
        if other_id in shared_events:
            reasons.append(_event_reason([my_events[e] for e in shared_events[other_id]]))
        ranked.append((other_id, -negative_score, reasons))
    return ranked


def recommendations_for(user: User, *, conference: Conference, limit: int = 10) -> list[Recommendation]:
    """
    Return up to ``limit`` (at most ``MAX_LIMIT``) people ``user`` should meet
    at ``conference``, best first, each with its score and reasons.

    Each comes with ``next_free_slot``: the first upcoming meeting slot in
    which neither person holds an accepted meeting and a table is free
    (``meetings.selectors.next_free_slots``, one query for all of them).

    Served from the cache when warm (3 queries: exclusions, profiles, free
    slots), computed otherwise (about 9 queries), whatever the number of
    attendees.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    key = _cache_key(user.pk, conference.pk)
    ranked = _cache_get(key)
    if ranked is None:
        ranked = score_candidates(user, conference)
        _cache_set(key, ranked)
        excluded: set[int] = set()
    else:
        excluded = blocked_or_connected_user_ids(user)

    wanted = [item for item in ranked if item[0] not in excluded]
    # All cached ids at once (at most CACHE_TOP): someone may have left the directory since.
    profiles = User.objects.filter(
        pk__in=[item[0] for item in wanted], is_active=True, directory_visible=True
    ).in_bulk()
    chosen = [item for item in wanted if item[0] in profiles][:limit]
    slots = next_free_slots(conference, user=user, others=[other_id for other_id, _, _ in chosen])
    return [
        Recommendation(user=profiles[other_id], score=score, reasons=list(reasons), next_free_slot=slots.get(other_id))
        for other_id, score, reasons in chosen
    ]
