"""The django-q2 schedules that follow each profile's sync settings.

A new Zammad → Kimai pair starts with its schedule **off**: nothing is written to Kimai on its own
while the admin is still adding rules. The admin switches it on on the Settings page, through
``PATCH /api/v1/sync/settings``, or when confirming a planned sync. :func:`schedule_enabled` is
the one question other parts (the dashboard, a setup checklist) ask.
"""

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


def schedule_enabled(profile_id: int) -> bool:
    """Whether the pair syncs on its schedule (False until the admin switches it on)."""
    return SyncSettings.objects.filter(profile_id=profile_id, schedule_enabled=True).exists()


def switch_schedule_on(profile_id: int) -> SyncSettings:
    """The admin's "sync on the schedule from now on"; the change is audited like any save."""
    sync_settings, _ = SyncSettings.objects.get_or_create(profile_id=profile_id)
    if not sync_settings.schedule_enabled:
        sync_settings.schedule_enabled = True
        sync_settings.save()
    apply_schedule(sync_settings)
    return sync_settings


def restore_schedules() -> int:
    """Make the django-q2 schedules match the settings (after migrating, e.g. a restored
    database): the pairs switched on get theirs, the others and gone pairs none. Returns how
    many pairs are on."""
    wanted: set[str] = set()
    for sync_settings in SyncSettings.objects.all():
        apply_schedule(sync_settings)
        if sync_settings.schedule_enabled:
            wanted.update(schedule_names(sync_settings.profile_id))
    Schedule.objects.filter(name__startswith="zks-").exclude(name__in=wanted).delete()
    return len(wanted) // 2
