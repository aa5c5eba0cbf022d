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


def _scheduled_profile(profile_id: int) -> tuple[MappingProfile | None, str]:
    profile = (
        MappingProfile.objects.filter(pk=profile_id).select_related("source", "target").first()
    )
    if profile is None:
        return None, f"profile {profile_id} is gone"
    if not (profile.source.enabled and profile.target.enabled):
        return None, f"profile {profile_id}: a connection is disabled, nothing queued"
    return profile, ""


def scheduled_incremental(profile_id: int) -> str:
    profile, why = _scheduled_profile(profile_id)
    if profile is None:
        return why
    run, created = request_run(
        profile, scope=Run.Scope.INCREMENTAL, trigger=Run.Trigger.SCHEDULE, actor=SCHEDULE
    )
    return f"incremental run {run.pk} {'queued' if created else 'already waiting'}"


def scheduled_full(profile_id: int) -> str:
    profile, why = _scheduled_profile(profile_id)
    if profile is None:
        return why
    days = engine.settings_of(profile).full_lookback_days
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    run, created = request_run(
        profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.SCHEDULE, actor=SCHEDULE,
        start=end - timedelta(days=days), end=end,
    )  # fmt: skip
    return f"full reconcile run {run.pk} {'queued' if created else 'already waiting'}"
