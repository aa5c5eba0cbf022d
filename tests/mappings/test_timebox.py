"""Begin and end from Zammad's one instant: time zones, midnight, rounding, minimum, units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
    assert "2026-07-01 08:00 America/New_York" in result.end_reason


def test_work_that_began_the_day_before_keeps_its_real_begin_by_default() -> None:
    # 00:20 in Berlin, 45 minutes: the work began at 23:35 the day before.
    result = box(datetime(2026, 3, 1, 23, 20, tzinfo=UTC), 45 * 60)
    assert local(result) == ("2026-03-01 23:35", "2026-03-02 00:20")
    assert result.duration_seconds == 45 * 60
    assert "crosses midnight in Europe/Berlin" in result.duration_reason


def test_keeping_inside_one_day_clips_the_part_before_midnight_and_says_so() -> None:
    result = box(datetime(2026, 3, 1, 23, 20, tzinfo=UTC), 45 * 60, one_day=True)
    assert local(result) == ("2026-03-02 00:00", "2026-03-02 00:20")
    assert result.duration_seconds == 20 * 60
    assert "the 25 min before 00:00 on 2026-03-02 (Europe/Berlin) are not booked" in (
        result.duration_reason
    )


def test_the_same_booking_crosses_midnight_only_where_it_is_night() -> None:
    instant = datetime(2026, 3, 2, 5, 10, tzinfo=UTC)  # 00:10 in New York, 06:10 in Berlin
    assert local(box(instant, 1800, NEW_YORK)) == ("2026-03-01 23:40", "2026-03-02 00:10")
    assert local(box(instant, 1800, BERLIN)) == ("2026-03-02 05:40", "2026-03-02 06:10")


def test_work_started_before_midnight_ends_the_next_day_by_default() -> None:
    result = box(datetime(2026, 3, 2, 22, 50, tzinfo=UTC), 1800, instant="start")
    assert local(result) == ("2026-03-02 23:50", "2026-03-03 00:20")


def test_keeping_inside_one_day_clips_what_runs_past_midnight() -> None:
    result = box(datetime(2026, 3, 2, 22, 50, tzinfo=UTC), 1800, instant="start", one_day=True)
    assert local(result) == ("2026-03-02 23:50", "2026-03-03 00:00")
    assert result.duration_seconds == 10 * 60
    assert "the 20 min after 24:00 on 2026-03-02" in result.duration_reason


def test_work_ending_exactly_at_midnight_stays_on_its_day() -> None:
    result = box(datetime(2026, 3, 2, 23, 0, tzinfo=UTC), 1800, one_day=True)  # 00:00 Berlin
    assert local(result) == ("2026-03-02 23:30", "2026-03-03 00:00")
    assert "not booked" not in result.duration_reason


def test_work_longer_than_a_day_keeps_its_length_by_default() -> None:
    result = box(datetime(2026, 3, 2, 17, 0, tzinfo=UTC), 26 * 3600, TOKYO)
    assert local(result) == ("2026-03-02 00:00", "2026-03-03 02:00")
    assert result.duration_seconds == 26 * 3600


def test_keeping_inside_one_day_clips_a_long_booking_to_the_day_it_ended() -> None:
    result = box(datetime(2026, 3, 2, 17, 0, tzinfo=UTC), 26 * 3600, TOKYO, one_day=True)
    assert local(result) == ("2026-03-03 00:00", "2026-03-03 02:00")
    assert result.duration_seconds == 2 * 3600


@pytest.mark.parametrize(
    ("zone", "booked_utc", "begin", "end"),
    [
        # Berlin, last Sunday of March: 02:00 CET becomes 03:00 CEST.
        (BERLIN, datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "2026-03-29 00:30", "2026-03-29 03:30"),
        # Berlin, last Sunday of October: 03:00 CEST becomes 02:00 CET.
        (BERLIN, datetime(2026, 10, 25, 2, 30, tzinfo=UTC), "2026-10-25 02:30", "2026-10-25 03:30"),
        # New York, second Sunday of March: 02:00 EST becomes 03:00 EDT.
        (NEW_YORK, datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "2026-03-08 01:00", "2026-03-08 04:00"),
        # New York, first Sunday of November: 02:00 EDT becomes 01:00 EST.
        (NEW_YORK, datetime(2026, 11, 1, 7, 0, tzinfo=UTC), "2026-11-01 01:00", "2026-11-01 02:00"),
    ],
)
def test_two_hours_across_a_dst_change_stay_two_hours(
    zone: str, booked_utc: datetime, begin: str, end: str
) -> None:
    result = box(booked_utc, 2 * 3600, zone)
    assert local(result) == (begin, end)
    assert result.begin is not None and result.end is not None
    assert result.end.astimezone(UTC) - result.begin.astimezone(UTC) == timedelta(hours=2)
    assert result.end.astimezone(UTC) == booked_utc
    assert result.duration_seconds == 2 * 3600
    assert "daylight-saving change" in result.duration_reason


def test_work_in_the_repeated_hour_is_the_second_occurrence_and_says_its_offset() -> None:
    # 01:40 UTC on 2026-10-25 is 02:40 CET, the second 02:40 that night in Berlin.
    result = box(datetime(2026, 10, 25, 1, 40, tzinfo=UTC), 20 * 60)
    assert result.begin is not None and result.end is not None
    assert result.begin.astimezone(UTC) == datetime(2026, 10, 25, 1, 20, tzinfo=UTC)
    assert result.begin.fold == 1
    assert "2026-10-25 02:40 Europe/Berlin (UTC+01:00)" in result.end_reason


def test_work_counted_on_over_the_skipped_hour_ends_at_a_real_time() -> None:
    # 01:45 CET, 30 minutes from there: the wall clock skips 02:00-03:00, so it ends 03:15 CEST.
    result = box(datetime(2026, 3, 29, 0, 45, tzinfo=UTC), 1800, instant="start")
    assert local(result) == ("2026-03-29 01:45", "2026-03-29 03:15")
    assert result.duration_seconds == 1800


def test_the_end_is_never_after_the_booked_instant_nor_the_start_before_it() -> None:
    booked = datetime(2026, 3, 2, 15, 0, 41, tzinfo=UTC)
    as_end = box(booked, 1800)
    as_start = box(booked, 1800, instant="start")
    assert as_end.end is not None and as_end.end <= booked
    assert as_start.begin is not None and as_start.begin >= booked
    assert local(as_start) == ("2026-03-02 16:01", "2026-03-02 16:31")


def test_work_that_ends_in_the_future_waits_with_a_reason() -> None:
    now = datetime(2026, 3, 2, 15, 10, tzinfo=UTC)
    started = synthesize(
        datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 3600, ZoneInfo(BERLIN), BERLIN,
        TimeSettings(instant="start"), now,
    )  # fmt: skip
    assert started.waiting_reason is not None
    assert "2026-03-02 17:00 Europe/Berlin, which is still to come" in started.waiting_reason
    done = synthesize(
        datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 3600, ZoneInfo(BERLIN), BERLIN, TimeSettings(), now
    )
    assert done.waiting_reason is None


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
