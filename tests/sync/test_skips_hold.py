"""A skipped conflict stays unbooked, whatever comes next (a quick fix's re-check, the next plan,
a scheduled run), until the entry itself changes in Zammad."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.sync.conflict_fixes import activity_fix_context, map_activity_and_recheck
from apps.sync.models import Conflict, Link, Run, RunItem
from apps.sync.resolutions import ResolutionParams, apply_resolution
from tests.sync.world import World, demo_world

ONSITE = "4"  # the Zammad activity type nothing maps yet
ACTOR = "admin:1"


@pytest.fixture
def skipped(db: None, settings: Any) -> Iterator[tuple[World, list[Conflict]]]:
    """A first sync, then three "Onsite" conflicts skipped by the admin."""
    settings.TASKS_INLINE = True  # the runs a quick fix asks for execute at once
    with demo_world(weeks=1) as world:
        world.run()
        waiting = list(
            Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_ACTIVITY).order_by("id")[:3]
        )
        assert len(waiting) == 3
        for conflict in waiting:
            apply_resolution(conflict, "skip", ResolutionParams(note="not billed"), ACTOR)
        yield world, waiting


def booked(world: World, conflicts: list[Conflict]) -> list[str]:
    markers = [c.source_snapshot["marker"] for c in conflicts]
    return [
        marker
        for marker in markers
        for sheet in world.kimai_double.all_timesheets()
        if marker in (sheet.description or "")
    ]


def map_onsite(world: World) -> None:
    context = activity_fix_context(ONSITE)
    support = str(world.kimai_double.activity_id("Support"))
    assert "saved" in map_activity_and_recheck(context, support, ACTOR)


def test_mapping_the_activity_books_the_open_conflicts_but_not_the_skipped_ones(
    skipped: tuple[World, list[Conflict]],
) -> None:
    world, conflicts = skipped
    open_before = Conflict.objects.filter(
        kind=Conflict.Kind.UNMAPPED_ACTIVITY, status=Conflict.Status.OPEN
    ).count()
    map_onsite(world)
    assert booked(world, conflicts) == []
    assert not Link.objects.filter(source_id__in=[c.source_id for c in conflicts]).exists()
    for conflict in conflicts:
        conflict.refresh_from_db()
        assert conflict.status == Conflict.Status.SKIPPED
    assert open_before > 0
    assert not Conflict.objects.filter(
        kind=Conflict.Kind.UNMAPPED_ACTIVITY, status=Conflict.Status.OPEN
    ).exists()


def test_the_next_plan_and_run_leave_skipped_entries_alone(
    skipped: tuple[World, list[Conflict]],
) -> None:
    world, conflicts = skipped
    map_onsite(world)
    plan = world.run(dry_run=True)
    run = world.run()
    for finished in (plan, run):
        items = RunItem.objects.filter(run=finished, source_id__in=[c.source_id for c in conflicts])
        assert {i.planned for i in items} == {"skip"}
    assert booked(world, conflicts) == []


def test_a_skipped_entry_comes_back_when_it_changes_in_zammad(
    skipped: tuple[World, list[Conflict]],
) -> None:
    world, conflicts = skipped
    map_onsite(world)
    world.served.zammad.edit_time(int(conflicts[0].source_id), time_unit="50")
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert booked(world, conflicts) == [conflicts[0].source_snapshot["marker"]]
