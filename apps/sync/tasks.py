"""django-q2 entry points: thin, ids only."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.core.audit import SCHEDULE
from apps.mappings.models import MappingProfile
from apps.sync import engine
from apps.sync.models import Run
from apps.sync.services import request_run


def execute_run(run_id: int) -> str:
    run = engine.execute_run(run_id)
    return f"run {run_id}: {run.status if run else 'gone'}"


def scheduled_incremental(profile_id: int) -> str:
    profile = MappingProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        return f"profile {profile_id} is gone"
    run, created = request_run(
        profile, scope=Run.Scope.INCREMENTAL, trigger=Run.Trigger.SCHEDULE, actor=SCHEDULE
    )
    return f"incremental run {run.pk} {'queued' if created else 'already waiting'}"


def scheduled_full(profile_id: int) -> str:
    profile = MappingProfile.objects.filter(pk=profile_id).first()
    if profile is None:
        return f"profile {profile_id} is gone"
    days = engine.settings_of(profile).full_lookback_days
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    run, created = request_run(
        profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.SCHEDULE, actor=SCHEDULE,
        start=end - timedelta(days=days), end=end,
    )  # fmt: skip
    return f"full reconcile run {run.pk} {'queued' if created else 'already waiting'}"
