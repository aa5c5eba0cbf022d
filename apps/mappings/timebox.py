"""Begin and end of a Kimai timesheet from Zammad's one instant and a duration.

Zammad records when an entry was booked and how much time it was (already converted to seconds
by the connector, whatever the Zammad unit). Kimai wants a begin and an end. The rules, in order:

1. Zero or negative durations are skipped with a reason (Zammad accepts negative time units as
   corrections; Kimai refuses them, kimai-api.md §7 "Duration cannot be negative").
2. Minutes: rounded up to the configured block, else to the nearest whole minute (Kimai keeps
   whole minutes: it floors begin and ceils end, §6 "Rounding"), then raised to the minimum.
3. The booked instant, floored to the minute, is the end of the work (default) or its start.
4. The timesheet never crosses midnight in the Kimai user's time zone: work that would start on
   the previous day is moved to start at 00:00; work that would end on the next day is moved to
   end at 24:00; work longer than the day is clipped to the day. Each move is explained.

Everything here is plain arithmetic on aware datetimes: no I/O, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal

Instant = Literal["end", "start"]
ONE_MINUTE = timedelta(minutes=1)
SHORTEST_DAY = timedelta(
    hours=22
)  # a DST change shortens a day by up to 2 hours (Troll, Antarctica)


@dataclass(frozen=True, slots=True)
class TimeSettings:
    instant: Instant = "end"
    rounding_minutes: int = 0  # 0: no rounding; else round up to a multiple of this
    minimum_minutes: int = 0  # 0: no minimum


@dataclass(frozen=True, slots=True)
class TimeBox:
    """Begin and end in the user's zone, or why there is nothing to book."""

    begin: datetime | None
    end: datetime | None
    duration_seconds: int
    begin_reason: str
    end_reason: str
    duration_reason: str
    skipped_reason: str | None = None


def format_minutes(minutes: int) -> str:
    """``90`` → ``"1 h 30 min"``; ``45`` → ``"45 min"``."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def format_seconds(seconds: int) -> str:
    minutes, rest = divmod(abs(seconds), 60)
    sign = "-" if seconds < 0 else ""
    if rest:
        return f"{sign}{format_minutes(minutes)} {rest} s" if minutes else f"{sign}{rest} s"
    return f"{sign}{format_minutes(minutes)}"


@lru_cache(maxsize=4096)
def booked_minutes(seconds: int, settings: TimeSettings) -> tuple[int, str]:
    """Whole minutes to book for a positive duration, and how they came about."""
    booked = format_seconds(seconds)
    if settings.rounding_minutes:
        block = settings.rounding_minutes * 60
        minutes = -(-seconds // block) * settings.rounding_minutes
        if minutes * 60 == seconds:
            reason = f"Zammad booked {booked}."
        else:
            reason = (
                f"Zammad booked {booked}; rounded up to {format_minutes(minutes)} "
                f"(settings: round up to {settings.rounding_minutes} minutes)."
            )
    else:
        minutes = max(1, (seconds + 30) // 60)
        if minutes * 60 == seconds:
            reason = f"Zammad booked {booked}."
        else:
            reason = (
                f"Zammad booked {booked}; Kimai keeps whole minutes, so {format_minutes(minutes)}."
            )
    if minutes < settings.minimum_minutes:
        reason += (
            f" Raised from {format_minutes(minutes)} to the minimum of "
            f"{format_minutes(settings.minimum_minutes)} (settings)."
        )
        minutes = settings.minimum_minutes
    return minutes, reason


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The instant the day starts in ``zone``, in UTC: arithmetic on aware datetimes that share
    a tzinfo is wall-clock arithmetic in Python, wrong across DST changes, so we stay in UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _within(local_begin: datetime, local_end: datetime, day: date) -> bool:
    """Begin and end on ``day`` (an end at the next 00:00 still counts as that day)."""
    if local_begin.date() != day:
        return False
    end_day = local_end.date()
    return end_day == day or (local_end.hour == local_end.minute == 0 and end_day > day)


def synthesize(
    booked_at: datetime, duration_seconds: int, zone: tzinfo, zone_name: str, settings: TimeSettings
) -> TimeBox:
    """The timesheet's begin and end in ``zone`` (see the module docstring for the rules)."""
    if duration_seconds <= 0:
        what = "no time" if duration_seconds == 0 else f"{format_seconds(duration_seconds)}"
        reason = (
            f"Zammad booked {what}: there is nothing to write to Kimai, which refuses empty "
            "and negative durations."
        )
        return TimeBox(None, None, 0, reason, reason, reason, skipped_reason=reason)

    minutes, duration_reason = booked_minutes(duration_seconds, settings)
    length = timedelta(minutes=minutes)
    anchor = booked_at.astimezone(UTC).replace(second=0, microsecond=0)
    local = anchor.astimezone(zone)
    stamp = local.isoformat(" ", "minutes")  # "2026-03-02 16:00+01:00"
    at = f"{stamp[11:16]} on {stamp[:10]} ({zone_name})"
    if settings.instant == "end":
        end, begin = anchor, anchor - length
        local_begin, local_end = begin.astimezone(zone), local
        day = local.date()
        if local.hour == local.minute == 0:  # work ending at 00:00 belongs to the day before
            day = (anchor - ONE_MINUTE).astimezone(zone).date()
        end_reason = f"Zammad booked the entry at {at}; the settings say that is the end."
        begin_reason = f"The end minus {format_minutes(minutes)}."
    else:
        begin, end = anchor, anchor + length
        local_begin, local_end = local, end.astimezone(zone)
        day = local.date()
        begin_reason = f"Zammad booked the entry at {at}; the settings say that is the start."
        end_reason = f"The start plus {format_minutes(minutes)}."

    if length <= SHORTEST_DAY and _within(local_begin, local_end, day):
        return TimeBox(
            local_begin, local_end, minutes * 60, begin_reason, end_reason, duration_reason
        )
    day_start, day_end = _midnight(day, zone), _midnight(day + timedelta(days=1), zone)
    day_length = day_end - day_start
    if length > day_length:
        clipped = int(day_length.total_seconds() // 60)
        duration_reason += (
            f" That is more than the day has in {zone_name}, so it was clipped to "
            f"{format_minutes(clipped)} (a timesheet never crosses midnight)."
        )
        minutes, begin, end = clipped, day_start, day_end
        begin_reason = end_reason = f"The whole day of {day:%Y-%m-%d} ({zone_name})."
    elif begin < day_start:
        begin_reason = (
            f"Counting back {format_minutes(minutes)} would start on the day before "
            f"({_clock(begin.astimezone(zone))}); moved to start at 00:00 so the timesheet stays "
            f"within {day:%Y-%m-%d} in {zone_name}."
        )
        begin, end = day_start, day_start + length
        end_reason = f"Moved with the start: 00:00 plus {format_minutes(minutes)}."
    elif end > day_end:
        end_reason = (
            f"Counting on {format_minutes(minutes)} would end on the next day "
            f"({_clock(end.astimezone(zone))}); moved to end at 24:00 so the timesheet stays "
            f"within {day:%Y-%m-%d} in {zone_name}."
        )
        begin, end = day_end - length, day_end
        begin_reason = f"Moved with the end: 24:00 minus {format_minutes(minutes)}."
    return TimeBox(
        begin=begin.astimezone(zone),
        end=end.astimezone(zone),
        duration_seconds=minutes * 60,
        begin_reason=begin_reason,
        end_reason=end_reason,
        duration_reason=duration_reason,
    )
