"""One run at a time per profile: a PostgreSQL session advisory lock.

The lock lives as long as the database session, so a worker that is killed releases it with its
connection; nothing is left "locked" by a crash. The unique constraints on links and write intents
stay the last line against duplicates if the lock were ever bypassed.

A run's task that finds the lock taken leaves its run queued for the holder. Whoever lets the lock
go therefore looks for queued runs once it is free: the holder's own last look may have come just
before that run committed (with several workers, a task can run in exactly that gap).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from apps.sync.models import Run
from apps.sync.services import enqueue_run

# First key of the two-key advisory lock space: "zks" in ASCII, so our locks never collide with
# another application's single-key locks on the same database.
LOCK_NAMESPACE = 0x7A6B73


@contextmanager
def profile_lock(profile_id: int, *, wake: bool = True) -> Iterator[bool]:
    """Yields True if this session now holds the profile's lock, False if another one does.

    ``wake``: on release, queue a task for the oldest run left waiting (a caller that runs the
    queued runs itself, as :func:`apps.sync.engine.execute_run` does, passes False and looks).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, profile_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, profile_id])
            if wake:
                wake_waiting_run(profile_id)


def oldest_queued_run(profile_id: int) -> Run | None:
    return (
        Run.objects.filter(profile_id=profile_id, status=Run.Status.QUEUED)
        .order_by("created_at", "id")
        .only("id")
        .first()
    )


def wake_waiting_run(profile_id: int) -> None:
    waiting = oldest_queued_run(profile_id)
    if waiting is not None:  # a second task for it is harmless: runs are claimed atomically
        enqueue_run(waiting)
