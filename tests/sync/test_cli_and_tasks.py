from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django_q.models import OrmQ

from apps.sync import tasks
from apps.sync.models import Run
from apps.sync.schedules import switch_schedule_on
from tests.sync.world import World


@pytest.mark.django_db
def test_the_sync_command_runs_a_window_and_prints_a_summary(world: World) -> None:
    start, end = world.window()
    out = io.StringIO()
    call_command("sync", "--window", f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}", stdout=out)
    text = out.getvalue()
    run = Run.objects.get()
    assert run.trigger == "cli" and run.status == "succeeded"
    assert f"run {run.pk}, succeeded" in text
    assert (
        f"create {run.counts['create']:>6}".replace("create", "create    ") in text
        or str(run.counts["create"]) in text
    )
    assert "HTTP requests" in text


@pytest.mark.django_db
def test_the_sync_command_dry_run_writes_nothing(world: World) -> None:
    out = io.StringIO()
    call_command("sync", "--incremental", "--dry-run", stdout=out)
    assert "Planned (dry run)" in out.getvalue()
    assert world.kimai_writes() == []


@pytest.mark.django_db
def test_the_sync_command_explains_a_bad_date() -> None:
    with pytest.raises(CommandError, match="is not a date"):
        call_command("sync", "--window", "yesterday", "2026-03-01")


@pytest.mark.django_db
def test_the_scheduled_tasks_queue_runs_by_id(world: World) -> None:
    assert "queued" in tasks.scheduled_incremental(world.profile.pk)
    assert "already waiting" in tasks.scheduled_incremental(world.profile.pk)
    assert "queued" in tasks.scheduled_full(world.profile.pk)
    runs = Run.objects.order_by("id")
    assert [(r.scope, r.trigger, r.actor) for r in runs] == [
        ("incremental", "schedule", "schedule"), ("window", "schedule", "schedule"),
    ]  # fmt: skip
    assert OrmQ.objects.count() == 2


@pytest.mark.django_db
def test_the_run_task_takes_an_id_and_runs_it(world: World) -> None:
    run = Run.objects.create(
        profile=world.profile, trigger="schedule", actor="schedule", scope="incremental",
        coalesce_key="incremental:real",
    )  # fmt: skip
    assert tasks.execute_run(run.pk) == f"run {run.pk}: succeeded"
    assert tasks.execute_run(999_999) == "run 999999: gone"


@pytest.mark.django_db
def test_a_switched_on_pair_syncs_on_the_default_schedule(world: World) -> None:
    from django_q.models import Schedule

    switch_schedule_on(world.profile.pk)
    schedules = {s.name: s for s in Schedule.objects.all()}
    incremental = schedules[f"zks-incremental-{world.profile.pk}"]
    nightly = schedules[f"zks-full-{world.profile.pk}"]
    assert (incremental.schedule_type, incremental.minutes) == (Schedule.MINUTES, 15)
    assert (nightly.schedule_type, nightly.next_run.hour) == (Schedule.DAILY, 2)
