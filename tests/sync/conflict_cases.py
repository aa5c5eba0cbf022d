"""Conflicts of every kind the resolution tests need, made in the demo world."""

from __future__ import annotations

from datetime import timedelta

from apps.sync.models import Conflict, Link
from apps.sync.resolutions import Resolution, ResolutionParams, apply_resolution
from tests.sync.world import World

ACTOR = "admin:1"


def open_conflict(kind: str) -> Conflict:
    conflict = Conflict.objects.filter(kind=kind, status=Conflict.Status.OPEN).first()
    assert conflict is not None, f"no open {kind} conflict"
    return conflict


def resolve(conflict: Conflict, action: str, **params: str) -> Resolution:
    return apply_resolution(conflict, action, ResolutionParams(**params), ACTOR)


def add_second_candidate(world: World) -> None:
    """Before the first run: a second hand-made Kimai timesheet next to the one with another
    duration, so that entry has two candidates (an ambiguous match)."""
    manual = world.dataset.kimai_manual_timesheets[1]
    double = world.kimai_double
    begin = manual.begin + timedelta(hours=2)
    double.add_timesheet(
        "emma", double.project_id(manual.project), double.activity_id(manual.activity),
        begin, begin + timedelta(minutes=45), description=manual.description,
    )  # fmt: skip


def edited_on_both_sides(world: World) -> Conflict:
    """After a run: a person edits a timesheet the sync wrote, and Zammad's entry changes."""
    link = Link.objects.filter(origin=Link.Origin.CREATED).order_by("id").first()
    assert link is not None
    stored = world.kimai_double.timesheets[int(link.kimai_id)]
    stored.description = (stored.description or "") + " (checked by Emma)"
    world.served.zammad.edit_time(int(link.source_id), time_unit="95")
    world.run()
    return Conflict.objects.get(kind=Conflict.Kind.CHANGED_IN_KIMAI, source_id=link.source_id)


def deleted_in_zammad(world: World) -> Conflict:
    link = Link.objects.filter(origin=Link.Origin.CREATED).order_by("id").first()
    assert link is not None
    world.served.zammad.delete_time(int(link.source_id))
    world.run()
    return Conflict.objects.get(kind=Conflict.Kind.SOURCE_DELETED, source_id=link.source_id)
