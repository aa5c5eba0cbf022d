"""Counting and limiting refused webhook requests, one counter row per source and minute.

Before this, every unsigned request added an audit row: 500 requests in 2.3 s added 500 rows. Now
a refusal is an upsert of one ``WebhookRejection`` row, and a source that was refused more than
``WEBHOOK_REJECTIONS_PER_MINUTE`` times in the current minute gets 429 before its body is read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.connectors.models import WebhookRejection

RATE_LIMITED = "too many refused requests from this address this minute"
MAX_REASON = 200


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def count_rejection(source: str, reason: str, now: datetime | None = None) -> int:
    """One more refusal from ``source`` in this minute; returns the minute's count."""
    now = now or timezone.now()
    table = WebhookRejection._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (source, minute, count, last_reason, last_at)
            VALUES (%s, %s, 1, %s, %s)
            ON CONFLICT (source, minute) DO UPDATE
            SET count = {table}.count + 1, last_reason = EXCLUDED.last_reason,
                last_at = EXCLUDED.last_at
            RETURNING count
            """,  # noqa: S608 (the table name is ours)
            [source[:64], _minute(now), reason[:MAX_REASON], now],
        )
        return int(cursor.fetchone()[0])


def retry_after(source: str, now: datetime | None = None) -> int:
    """Seconds until ``source`` may try again (0: it may now)."""
    now = now or timezone.now()
    minute = _minute(now)
    refused = (
        WebhookRejection.objects.filter(source=source[:64], minute=minute)
        .values_list("count", flat=True)
        .first()
    )
    if refused is None or refused < settings.WEBHOOK_REJECTIONS_PER_MINUTE:
        return 0
    return max(1, int((minute + timedelta(minutes=1) - now).total_seconds()))


def recent_rejections(hours: int = 24, limit: int = 20) -> list[WebhookRejection]:
    since = timezone.now() - timedelta(hours=hours)
    return list(WebhookRejection.objects.filter(minute__gte=since)[:limit])
