"""Retention: delete what is older than the policy says, in batches, and say what was deleted.

Each registered target (apps/gdpr/registry.py) is pruned by primary key, ``BATCH`` rows per
short transaction, walking the key upwards: memory stays bounded and no lock is held on a table
of millions of rows for longer than one batch. The nightly django-q2 schedule runs
:func:`prune_expired`; the Privacy page and ``GET /api/v1/gdpr/retention`` show what the next
run would remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from apps.core import audit
from apps.gdpr.models import RetentionPolicy
from apps.gdpr.registry import Expiring, expiring

logger = structlog.get_logger(__name__)

BATCH = 5000
SCHEDULE_NAME = "privacy-retention"


@dataclass(frozen=True)
class Due:
    key: str
    label: str
    days: int
    cutoff: datetime
    rows: int


def cutoff_of(target: Expiring, policy: RetentionPolicy, now: datetime) -> tuple[int, datetime]:
    days = int(getattr(policy, target.policy_field))
    return days, now - timedelta(days=days)


def due(policy: RetentionPolicy | None = None, now: datetime | None = None) -> list[Due]:
    """How many rows each target would lose if the job ran now."""
    policy = policy or RetentionPolicy.load()
    now = now or timezone.now()
    rows = []
    for target in expiring():
        days, cutoff = cutoff_of(target, policy, now)
        count = target.expired(cutoff).count()
        rows.append(Due(target.key, target.label, days, cutoff, count))
    return rows


def _prune(target: Expiring, cutoff: datetime, batch: int) -> int:
    total = 0
    if target.prune_batch is not None:
        while True:
            with transaction.atomic():
                removed = target.prune_batch(cutoff, batch)
            total += removed
            if removed < batch:
                return total
    delete = target.delete_batch
    last = 0
    while True:
        with transaction.atomic():
            ids = list(
                target.expired(cutoff)
                .filter(pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return total
            if delete is None:  # rows nothing refers to: Django sends one DELETE
                model = target.expired(cutoff).model
                total += model._base_manager.filter(pk__in=ids).delete()[0]
            else:
                total += delete(ids)
        last = ids[-1]


def prune_expired(batch: int = BATCH, now: datetime | None = None) -> dict[str, int]:
    """Delete everything older than the policy allows; record and return what went."""
    policy = RetentionPolicy.load()
    now = now or timezone.now()
    report: dict[str, int] = {}
    for target in expiring():
        _days, cutoff = cutoff_of(target, policy, now)
        report[target.key] = _prune(target, cutoff, batch)
        logger.info("retention_pruned", target=target.key, rows=report[target.key])
    RetentionPolicy.objects.filter(pk=policy.pk).update(last_pruned_at=now, last_report=report)
    audit.record(audit.SCHEDULE, "retention.prune", "retention", policy.pk, after=report)
    return report


POLICY_FIELDS = (
    "runs_days", "conflicts_days", "deliveries_days", "audit_days", "task_results_days",
    "prune_hour_utc",
)  # fmt: skip
# The audit trail's database function never removes the last 30 days (core migration 0005).
MIN_AUDIT_DAYS = 30


def save_policy(changes: dict[str, int]) -> RetentionPolicy:
    """Change the policy (validated by the caller's form or schema) and move the schedule."""
    policy = RetentionPolicy.load()
    for name, value in changes.items():
        if name in POLICY_FIELDS:
            setattr(policy, name, value)
    policy.save()
    ensure_schedule(policy)
    return policy


# -- the nightly schedule ----------------------------------------------------------------------
def next_prune_at(hour: int, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    candidate = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


def ensure_schedule(policy: RetentionPolicy | None = None) -> Schedule:
    """The one daily django-q2 schedule of the prune, at the policy's hour (UTC)."""
    policy = policy or RetentionPolicy.objects.filter(pk=RetentionPolicy.SINGLETON).first()
    hour = policy.prune_hour_utc if policy else RetentionPolicy().prune_hour_utc
    schedule, _ = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": "apps.gdpr.tasks.prune_expired",
            "schedule_type": Schedule.DAILY,
            "next_run": next_prune_at(hour),
            "repeats": -1,
        },
    )
    return schedule


def next_run() -> datetime | None:
    return Schedule.objects.filter(name=SCHEDULE_NAME).values_list("next_run", flat=True).first()
