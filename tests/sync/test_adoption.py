"""Timesheets people typed into Kimai by hand for a Zammad entry are adopted when they agree within
Kimai's rounding (plus the admin's tolerance); further apart, they are a conflict with both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.sync.engine import settings_of
from apps.sync.models import Conflict, Link
from tests.sync.world import World

EMMA = 4  # Zammad agent; Kimai user "emma" in Europe/Berlin
SUPPORT = 1
BOOKED = datetime(2026, 3, 4, 10, 0, 40, tzinfo=UTC)  # 11:00:40 in Berlin


def book_and_type(world: World, minutes: str, typed_begin: datetime, typed_end: datetime) -> str:
    """Zammad gets the entry; Kimai gets what Emma typed by hand (Kimai rounds it, §6)."""
    ticket = next(t for t in world.dataset.tickets if t.organization_id == 1)
    entry = world.served.zammad.book_time(
        ticket.zammad_id, EMMA, Decimal(minutes), type_id=SUPPORT, at=BOOKED
    )
    world.kimai_double.add_timesheet(
        "emma", "Support 2026", "Support", typed_begin, typed_end,
        description=f"#{ticket.number} {ticket.title}",
    )  # fmt: skip
    return str(entry.id)


def sync(world: World) -> None:
    world.run(start=BOOKED - timedelta(days=1), end=BOOKED + timedelta(days=1))


def test_a_copy_typed_with_seconds_is_adopted_despite_kimais_rounding(empty_world: World) -> None:
    # 17.5 minutes typed to the second: Kimai stores 10:43 to 11:01 (floor, ceil), while the
    # plan is 10:42 to 11:00. Neither begin nor duration is the same minute.
    entry = book_and_type(empty_world, "17.5", BOOKED - timedelta(minutes=17, seconds=30), BOOKED)
    sync(empty_world)
    link = Link.objects.get(source_id=entry)
    assert link.origin == Link.Origin.ADOPTED
    assert len(empty_world.kimai_double.all_timesheets()) == 1
    assert empty_world.kimai_writes() == []


def test_a_copy_further_apart_is_a_conflict_that_shows_both(empty_world: World) -> None:
    entry = book_and_type(empty_world, "18", BOOKED - timedelta(minutes=30), BOOKED)
    sync(empty_world)
    conflict = Conflict.objects.get(source_id=entry)
    assert conflict.kind == Conflict.Kind.DURATION_MISMATCH
    assert "begins 10:30 and lasts 0:31 h; the entry in Zammad begins 10:42 and lasts 0:18 h" in (
        conflict.reason
    )
    assert conflict.target_snapshot is not None
    assert conflict.target_snapshot["duration_seconds"] == 31 * 60
    assert conflict.source_snapshot["timesheet"]["duration"]["value"] == 18 * 60
    assert empty_world.kimai_writes() == []


def test_a_wider_tolerance_set_by_the_admin_adopts_it(empty_world: World) -> None:
    sync_settings = settings_of(empty_world.profile)
    sync_settings.adopt_tolerance_minutes = 15
    sync_settings.save()
    entry = book_and_type(empty_world, "18", BOOKED - timedelta(minutes=30), BOOKED)
    sync(empty_world)
    assert Link.objects.get(source_id=entry).origin == Link.Origin.ADOPTED
    assert not Conflict.objects.filter(source_id=entry).exists()
