"""
Free-text search (``q``) for list endpoints.

On PostgreSQL each searchable table has a ``search_vector`` tsvector column
kept current by triggers (created in the apps' migrations; ADR 0011) and a
GIN index on it. ``full_text_search`` turns what a person typed into a
tsquery: words stemmed and unaccented (the ``ibw_search`` text search
configuration: English stemming over ``unaccent``), every word required in
any field, the last word also matched as a prefix of an unstemmed word
(``ibw_search_simple``), so ``kube`` finds "Kubernetes" and ``operat`` finds
"Operators" while someone is still typing. Rows come with ``search_rank``
(``ts_rank``, fields weighted by the migration) for relevance order.

The words are taken apart here (letters and digits only) and bound as
parameters, so no input (quotes, ``&|!():*``, very long text, punctuation
only) can make a tsquery syntax error. Elsewhere (SQLite, ``make run``) and
when ``SEARCH_MODE=substring`` (the bench's baseline) the callers keep their
substring match (``icontains``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from django.conf import settings
from django.contrib.postgres.search import (
    CombinedSearchQuery,
    SearchQuery,
    SearchRank,
    SearchVectorExact,
    SearchVectorField,
)
from django.db import connections, migrations
from django.db.models import Expression, F, Model, QuerySet

from ibw.errors import ValidationFailed

M = TypeVar("M", bound=Model)

# A query longer than this is cut: nobody types more, and it bounds the work per request.
MAX_QUERY_CHARS = 200
MAX_WORDS = 12
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; never a tsquery operator


def search_words(q: str) -> list[str]:
    """Return the words of ``q`` (lower case, letters and digits only, at most ``MAX_WORDS``)."""
    return _WORD.findall(q[:MAX_QUERY_CHARS].lower())[:MAX_WORDS]


def uses_full_text(queryset: QuerySet) -> bool:
    """Whether ``q`` on ``queryset`` is answered by full-text search (PostgreSQL, ``SEARCH_MODE=full_text``)."""
    return connections[queryset.db].vendor == "postgresql" and settings.SEARCH_MODE == "full_text"


class _SearchVectorColumn(Expression):
    """The ``search_vector`` column of the query's base table (the migrations add it; the models do not know it)."""

    output_field = SearchVectorField()

    def as_sql(self, compiler, connection):
        alias = compiler.query.get_initial_alias()
        return f"{compiler.quote_name_unless_alias(alias)}.{connection.ops.quote_name('search_vector')}", []


def _tsquery(words: list[str]) -> SearchQuery | CombinedSearchQuery:
    """The tsquery for ``words`` (non-empty), the words bound as parameters."""
    last = f"{words[-1]}:*"  # letters and digits and one suffix: always valid to_tsquery syntax
    query = SearchQuery(last, config="ibw_search", search_type="raw") | SearchQuery(
        last, config="ibw_search_simple", search_type="raw"
    )
    if len(words) > 1:
        # plainto_tsquery ANDs the words and drops stop words ("the", "for") instead of failing on them.
        return SearchQuery(" ".join(words[:-1]), config="ibw_search", search_type="plain") & query
    return query


def full_text_search(queryset: QuerySet[M], q: str, *, ranked: bool = True) -> QuerySet[M]:
    """
    Return the rows of ``queryset`` that match every word of ``q``: most
    relevant first, ties in ``queryset``'s own order (which must be set), or
    in that order alone when not ``ranked``. None when ``q`` has no word
    (punctuation only). The model's table must have the ``search_vector``
    column of the migrations (PostgreSQL only).
    """
    words = search_words(q)
    if not words:
        return queryset.none()
    column, query = _SearchVectorColumn(), _tsquery(words)
    matches = queryset.filter(SearchVectorExact(column, query))
    if not ranked:
        return matches
    return matches.annotate(search_rank=SearchRank(column, query)).order_by(
        F("search_rank").desc(), *queryset.query.order_by
    )


def ordering_param(request, allowed: Iterable[str]) -> str | None:
    """
    The request's ``ordering`` query parameter (one of ``allowed``), or
    ``None`` when absent or blank; anything else is a ``VALIDATION_ERROR``.
    """
    value = request.query_params.get("ordering", "").strip()
    if not value:
        return None
    choices = sorted(allowed)
    if value not in choices:
        message = f"Use one of: {', '.join(choices)}."
        raise ValidationFailed(f"ordering: {message}", details={"ordering": [message]})
    return value


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """``RunSQL`` that does nothing on other databases (SQLite keeps the substring search)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
