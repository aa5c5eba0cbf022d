"""One run at a time per profile: a PostgreSQL session advisory lock.

The lock lives as long as the database session, so a worker that is killed releases it with its
connection; nothing is left "locked" by a crash. The unique constraints on links and write intents
stay the last line against duplicates if the lock were ever bypassed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# First key of the two-key advisory lock space: "zks" in ASCII, so our locks never collide with
# another application's single-key locks on the same database.
LOCK_NAMESPACE = 0x7A6B73


@contextmanager
def profile_lock(profile_id: int) -> Iterator[bool]:
    """Yields True if this session now holds the profile's lock, False if another one does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, profile_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, profile_id])
