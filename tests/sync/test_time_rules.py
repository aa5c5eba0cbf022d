"""Begin and end in Kimai are the real ones: daylight-saving changes, the repeated and the skipped
hour, midnight, and never in the future; synced against both doubles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from apps.sync.models import Link, Run, RunItem
from tests.doubles.kimai import Timesheet
from tests.sync.world import World

EMMA, LIAM = 4, 5  # Europe/Berlin and America/New_York in the demo cast
SUPPORT = 1  # Zammad activity type mapped to Kimai's "Support"


def book(world: World, agent: int, at: datetime, minutes: int) -> str:
    ticket = next(t for t in world.dataset.tickets if t.organization_id == 1)
    entry = world.served.zammad.book_time(
        ticket.zammad_id, agent, Decimal(minutes), type_id=SUPPORT, at=at
    )
    return str(entry.id)


def sync(world: World, around: datetime) -> Run:
    return world.run(start=around - timedelta(days=2), end=around + timedelta(days=2))


def sheet_of(world: World, entry_id: str) -> Timesheet:
    return world.kimai_double.timesheet(int(Link.objects.get(source_id=entry_id).kimai_id))


def refusals(world: World) -> list[str]:
    return [f"{r.method} {r.path}" for r in world.kimai_double.refusals("/api/timesheets")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("agent", "booked", "zone"),
    [
        (EMMA, datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Berlin"),  # 02:00 → 03:00
        (EMMA, datetime(2026, 10, 25, 2, 30, tzinfo=UTC), "Europe/Berlin"),  # 03:00 → 02:00
        (LIAM, datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "America/New_York"),  # 02:00 → 03:00
        (LIAM, datetime(2026, 11, 1, 7, 0, tzinfo=UTC), "America/New_York"),  # 02:00 → 01:00
    ],
)
def test_two_hours_across_a_dst_change_are_two_hours_in_kimai(
    empty_world: World, agent: int, booked: datetime, zone: str
) -> None:
    entry = book(empty_world, agent, booked, 120)
    run = sync(empty_world, booked)
    assert run.status == Run.Status.SUCCEEDED, run.error
    sheet = sheet_of(empty_world, entry)
    assert sheet.end is not None
    assert sheet.duration == 7200
    assert sheet.end.astimezone(UTC) == booked
    assert sheet.begin.astimezone(UTC) == booked - timedelta(hours=2)
    assert str(sheet.begin.tzinfo) == zone
    assert refusals(empty_world) == []


@pytest.mark.django_db
def test_entries_in_both_occurrences_of_the_repeated_hour_keep_their_own_instants(
    empty_world: World,
) -> None:
    first = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 02:40 CEST
    second = datetime(2026, 10, 25, 1, 40, tzinfo=UTC)  # 02:40 CET, an hour later
    entries = [book(empty_world, EMMA, at, 20) for at in (first, second)]
    sync(empty_world, first)
    sheets = [sheet_of(empty_world, e) for e in entries]
    assert [s.begin.astimezone(UTC) for s in sheets] == [
        first - timedelta(minutes=20),
        second - timedelta(minutes=20),
    ]
    assert [s.duration for s in sheets] == [1200, 1200]
    assert refusals(empty_world) == []


@pytest.mark.django_db
def test_an_entry_counted_back_over_the_skipped_hour_starts_at_a_real_time(
    empty_world: World,
) -> None:
    booked = datetime(2026, 3, 29, 1, 10, tzinfo=UTC)  # 03:10 CEST; 40 minutes began 01:30 CET
    entry = book(empty_world, EMMA, booked, 40)
    sync(empty_world, booked)
    sheet = sheet_of(empty_world, entry)
    assert sheet.begin.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "01:30"
    assert sheet.duration == 40 * 60


@pytest.mark.django_db
def test_work_across_midnight_keeps_its_real_begin_and_never_ends_after_the_booking(
    empty_world: World,
) -> None:
    booked = datetime(2026, 3, 1, 23, 20, 41, tzinfo=UTC)  # 00:20 in Berlin, 45 minutes
    entry = book(empty_world, EMMA, booked, 45)
    sync(empty_world, booked)
    sheet = sheet_of(empty_world, entry)
    assert sheet.end is not None and sheet.end <= booked
    local = sheet.begin.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.strftime("%Y-%m-%d %H:%M") == "2026-03-01 23:35"
    assert sheet.duration == 45 * 60


@pytest.mark.django_db
def test_keeping_inside_one_day_clips_and_the_run_says_why(empty_world: World) -> None:
    empty_world.profile.keep_within_day = True
    empty_world.profile.save()
    booked = datetime(2026, 3, 1, 23, 20, tzinfo=UTC)
    entry = book(empty_world, EMMA, booked, 45)
    run = sync(empty_world, booked)
    sheet = sheet_of(empty_world, entry)
    assert sheet.begin.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "00:00"
    assert sheet.end is not None and sheet.end.astimezone(UTC) == booked
    assert sheet.duration == 20 * 60
    assert RunItem.objects.get(run=run, source_id=entry).duration_seconds == 20 * 60


@pytest.mark.django_db
def test_work_that_ends_in_the_future_waits_for_a_run_after_its_end(
    empty_world: World,
) -> None:
    empty_world.profile.booking_instant = "start"
    empty_world.profile.save()
    now = datetime(2026, 3, 6, 17, 50, tzinfo=UTC)
    with time_machine.travel(now, tick=True):
        entry = book(empty_world, EMMA, now - timedelta(minutes=10), 60)  # ends 18:40 UTC
        first = sync(empty_world, now)
    item = RunItem.objects.get(run=first, source_id=entry)
    assert item.planned == "skip"
    assert "still to come" in item.reason
    assert empty_world.kimai_double.all_timesheets() == []
    with time_machine.travel(now + timedelta(hours=1), tick=True):
        second = sync(empty_world, now)
    assert RunItem.objects.get(run=second, source_id=entry).planned == "create"
    sheet = sheet_of(empty_world, entry)
    assert sheet.end is not None and sheet.end <= now + timedelta(hours=1)
