"""The django-q2 schedules that follow each profile's sync settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django_q.models import Schedule

from apps.sync.models import SyncSettings


def schedule_names(profile_id: int) -> tuple[str, str]:
    return f"zks-incremental-{profile_id}", f"zks-full-{profile_id}"


def apply_schedule(sync_settings: SyncSettings) -> None:
    """Create, change or remove the two schedules of one profile to match its settings."""
    incremental, full = schedule_names(sync_settings.profile_id)
    if not sync_settings.schedule_enabled:
        Schedule.objects.filter(name__in=[incremental, full]).delete()
        return
    Schedule.objects.update_or_create(
        name=incremental,
        defaults={
            "func": "apps.sync.tasks.scheduled_incremental",
            "args": str(sync_settings.profile_id),
            "schedule_type": Schedule.MINUTES,
            "minutes": sync_settings.incremental_every_minutes,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=full,
        defaults={
            "func": "apps.sync.tasks.scheduled_full",
            "args": str(sync_settings.profile_id),
            # Daily from the next occurrence of the hour: no cron parser needed.
            "schedule_type": Schedule.DAILY,
            "next_run": next_at_hour(sync_settings.full_reconcile_hour_utc),
            "repeats": -1,
        },
    )


def next_at_hour(hour: int, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    candidate = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


def ensure_default_schedule(profile_id: int) -> None:
    """A new Zammad → Kimai pair syncs on the default schedule until someone changes it."""
    sync_settings, created = SyncSettings.objects.get_or_create(profile_id=profile_id)
    missing = not Schedule.objects.filter(name__in=schedule_names(profile_id)).exists()
    if sync_settings.schedule_enabled and (created or missing):
        apply_schedule(sync_settings)
