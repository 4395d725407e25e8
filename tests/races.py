"""Helpers for race tests against PostgreSQL: jobs in threads (each its own connection), and who waits on a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection, connections


def run_in_threads(jobs: list[Callable[[], object]], *, timeout: float = 60) -> list[object]:
    """Run each job in its own thread (and database connection); return their results in order, or raise."""
    results: list[object] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], object]) -> None:
        try:
            results[index] = job()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not errors, errors
    return results


def run_together(calls: list[Callable[[], object]], *, timeout: float = 60) -> list[object]:
    """
    Run each call in its own thread (and database connection), all released
    at once by a barrier; return their results in order, with the exception
    in place of the result of a call that raised (for the assertions).
    """
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=timeout)
            outcomes[index] = call()
        except Exception as exc:  # collected for the assertions
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes


def sessions_waiting_on_locks() -> int:
    """How many sessions of this database wait on a lock now."""
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps serving its first snapshot of the statistics views.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
