"""A new admin's first sync, end to end against both doubles: a hidden Kimai customer, bookings
through all four daylight-saving nights and across midnight, hand-typed copies in Kimai, and the
default schedule. (bench/trust_bench.py runs the same with 10,000 entries and prints figures.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from apps.sync.engine import execute_run
from apps.sync.models import Run
from apps.sync.schedules import schedule_enabled
from apps.sync.services import request_run
from tests.doubles.trust_dataset import trust_dataset
from tests.sync.trust_scenario import measure, trust_world


@pytest.mark.django_db
def test_the_first_sync_writes_only_what_the_rules_make_and_only_once_confirmed(
    admin_client: Client, settings: Any
) -> None:
    settings.TASKS_INLINE = True  # the confirmed run executes in the request, as a worker would
    data = trust_dataset(entries=400, copy_share=0.1)  # more copies than usual: ~25
    with trust_world(data) as world:
        # A new pair: no schedule, nothing queued, however long the admin takes.
        assert not Schedule.objects.filter(name__startswith="zks-").exists()
        assert not OrmQ.objects.exists()
        assert not schedule_enabled(world.profile.pk)
        first = min(e.created_at for e in data.dataset.entries) - timedelta(days=1)
        last = max(e.created_at for e in data.dataset.entries) + timedelta(days=1)
        plan, _ = request_run(
            world.profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL, actor="admin:1",
            dry_run=True, start=first, end=last, enqueue=False,
        )  # fmt: skip
        execute_run(plan.pk)
        writes_before_confirm = world.kimai_writes()
        admin_client.post(f"/sync/runs/{plan.pk}/confirm/", {"schedule": "on"})
        figures = measure(world, writes_before_confirm, timezone.now())
        run = Run.objects.filter(dry_run=False).get()
    print("\n".join(figures.lines()))
    assert run.status in (Run.Status.SUCCEEDED, Run.Status.PARTIAL), run.error
    assert figures.writes_before_confirm == 0
    assert figures.not_by_the_rules == 0
    assert figures.doubled == 0
    assert figures.refusals == 0
    assert figures.in_the_future == 0
    assert figures.hidden_customers == 1
    assert figures.adopted_percent >= 90
    assert figures.synced_timesheets + figures.copies_adopted >= 0.9 * figures.expected_bookings
    assert schedule_enabled(world.profile.pk)
