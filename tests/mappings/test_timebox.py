"""Begin and end from Zammad's one instant: time zones, midnight, rounding, minimum, units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.connectors.zammad.connector import TimeUnit
from apps.mappings.timebox import TimeBox, TimeSettings, synthesize

BERLIN, NEW_YORK, TOKYO = "Europe/Berlin", "America/New_York", "Asia/Tokyo"


def box(booked_at: datetime, seconds: int, zone: str = BERLIN, **settings: object) -> TimeBox:
    return synthesize(booked_at, seconds, ZoneInfo(zone), zone, TimeSettings(**settings))  # type: ignore[arg-type]


def local(result: TimeBox) -> tuple[str, str]:
    assert result.begin is not None and result.end is not None
    return result.begin.strftime("%Y-%m-%d %H:%M"), result.end.strftime("%Y-%m-%d %H:%M")


def test_it_ends_the_work_at_the_booking_instant_by_default() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, 41, tzinfo=UTC), 1800)
    assert local(result) == ("2026-03-02 15:30", "2026-03-02 16:00")
    assert result.duration_seconds == 1800
    assert "that is the end" in result.end_reason


def test_it_starts_the_work_at_the_booking_instant_when_set_so() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 1800, instant="start")
    assert local(result) == ("2026-03-02 16:00", "2026-03-02 16:30")
    assert "that is the start" in result.begin_reason


def test_the_same_instant_gives_different_local_times_in_new_york_and_berlin() -> None:
    instant = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert local(box(instant, 3600, NEW_YORK)) == ("2026-03-02 09:00", "2026-03-02 10:00")
    assert local(box(instant, 3600, BERLIN)) == ("2026-03-02 15:00", "2026-03-02 16:00")
    assert box(instant, 3600, NEW_YORK).begin == box(instant, 3600, BERLIN).begin


def test_it_keeps_the_begin_and_end_in_the_users_zone() -> None:
    result = box(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), 900, NEW_YORK)
    assert result.begin is not None
    assert result.begin.utcoffset() == ZoneInfo(NEW_YORK).utcoffset(datetime(2026, 7, 1))
    assert "(America/New_York)" in result.end_reason


def test_work_that_would_start_the_day_before_moves_to_midnight() -> None:
    # 00:20 in Berlin, 45 minutes: counting back would begin at 23:35 the day before.
    result = box(datetime(2026, 3, 1, 23, 20, tzinfo=UTC), 45 * 60)
    assert local(result) == ("2026-03-02 00:00", "2026-03-02 00:45")
    assert "would start on the day before (23:35)" in result.begin_reason
    assert result.duration_seconds == 45 * 60


def test_the_same_booking_crosses_midnight_only_where_it_is_night() -> None:
    instant = datetime(2026, 3, 2, 5, 10, tzinfo=UTC)  # 00:10 in New York, 06:10 in Berlin
    assert local(box(instant, 1800, NEW_YORK)) == ("2026-03-02 00:00", "2026-03-02 00:30")
    assert local(box(instant, 1800, BERLIN)) == ("2026-03-02 05:40", "2026-03-02 06:10")


def test_work_that_would_end_the_next_day_moves_to_end_at_midnight() -> None:
    result = box(datetime(2026, 3, 2, 22, 50, tzinfo=UTC), 1800, instant="start")
    assert local(result) == ("2026-03-02 23:30", "2026-03-03 00:00")
    assert "would end on the next day (00:20)" in result.end_reason


def test_work_ending_exactly_at_midnight_stays_on_its_day() -> None:
    result = box(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), 1800)  # 00:00 Berlin
    assert local(result) == ("2026-03-02 23:30", "2026-03-03 00:00")
    assert "moved" not in result.begin_reason.lower()


def test_work_longer_than_the_day_is_clipped_to_the_day() -> None:
    result = box(datetime(2026, 3, 2, 17, 0, tzinfo=UTC), 26 * 3600, TOKYO)
    assert local(result) == ("2026-03-03 00:00", "2026-03-04 00:00")
    assert result.duration_seconds == 24 * 3600
    assert "clipped to 24 h" in result.duration_reason


def test_the_short_day_of_a_dst_change_is_clipped_to_23_hours() -> None:
    result = box(datetime(2026, 3, 29, 21, 0, tzinfo=UTC), 24 * 3600)  # 23:00 CEST
    assert local(result) == ("2026-03-29 00:00", "2026-03-30 00:00")
    assert result.duration_seconds == 23 * 3600


def test_it_rounds_up_to_the_configured_block() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 7 * 60, rounding_minutes=15)
    assert result.duration_seconds == 15 * 60
    assert "rounded up to 15 min" in result.duration_reason


def test_it_does_not_round_an_exact_multiple() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 30 * 60, rounding_minutes=15)
    assert result.duration_seconds == 30 * 60
    assert result.duration_reason == "Zammad booked 30 min."


def test_without_rounding_it_keeps_whole_minutes_as_kimai_does() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 450)  # 7.5 minutes
    assert result.duration_seconds == 8 * 60
    assert "Kimai keeps whole minutes, so 8 min" in result.duration_reason


def test_it_raises_short_work_to_the_minimum() -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 5 * 60, minimum_minutes=15)
    assert local(result) == ("2026-03-02 15:45", "2026-03-02 16:00")
    assert "Raised from 5 min to the minimum of 15 min" in result.duration_reason


def test_rounding_comes_before_the_minimum() -> None:
    result = box(
        datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 60, rounding_minutes=5, minimum_minutes=10
    )
    assert result.duration_seconds == 10 * 60


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "Zammad booked no time"), (-900, "Zammad booked -15 min")],
)
def test_it_skips_zero_and_negative_entries_with_a_reason(seconds: int, words: str) -> None:
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), seconds)
    assert result.begin is None
    assert result.skipped_reason is not None
    assert result.skipped_reason.startswith(words)
    assert "refuses empty and negative durations" in result.skipped_reason


@pytest.mark.parametrize(
    ("unit", "time_unit", "minutes"),
    [
        (TimeUnit("minute", Decimal(1), "test"), "45", 45),
        (TimeUnit("quarter", Decimal(15), "test"), "3", 45),
        (TimeUnit("hour", Decimal(60), "test"), "1.5", 90),
        (TimeUnit("custom", Decimal(6), "test"), "2.5", 15),
    ],
)
def test_every_zammad_unit_becomes_the_right_timesheet(
    unit: TimeUnit, time_unit: str, minutes: int
) -> None:
    seconds = unit.seconds(time_unit)
    result = box(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), seconds)
    assert result.duration_seconds == minutes * 60
    assert result.end is not None and result.begin is not None
    assert (result.end - result.begin).total_seconds() == minutes * 60
