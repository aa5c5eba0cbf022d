"""Begin and end of a Kimai timesheet from Zammad's one instant and a duration.

Zammad records when an entry was booked and how much time it was (already converted to seconds
by the connector, whatever the Zammad unit). Kimai wants a begin and an end. The rules, in order:

1. Zero or negative durations are skipped with a reason (Zammad accepts negative time units as
   corrections; Kimai refuses them, kimai-api.md §7 "Duration cannot be negative").
2. Minutes: rounded up to the configured block, else to the nearest whole minute (Kimai keeps
   whole minutes: it floors begin and ceils end, §6 "Rounding"), then raised to the minimum.
3. The booked instant is the end of the work (default: floored to the minute, so the timesheet
   never ends after the moment Zammad recorded it) or its start (ceiled to the minute, so it
   never starts before that moment). The other end is that instant minus or plus the duration,
   counted in real time (UTC): a daylight-saving change inside the work changes the wall clock,
   never the length.
4. By default that is the truth: the real begin and end, also across midnight (Kimai accepts
   timesheets that span two days). "Keep inside one day" is an option: the part of the work on
   the other side of midnight is clipped off, and the reasons say so. Work is never moved.
5. A timesheet never ends in the future: an entry whose end is still to come waits, with a
   reason, until a run after its end books it.

Everything here is plain arithmetic on aware datetimes: no I/O, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal

Instant = Literal["end", "start"]
ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TimeSettings:
    instant: Instant = "end"
    rounding_minutes: int = 0  # 0: no rounding; else round up to a multiple of this
    minimum_minutes: int = 0  # 0: no minimum
    one_day: bool = False  # keep the timesheet inside one day by clipping at midnight


@dataclass(slots=True, unsafe_hash=True)  # not frozen, for speed, as FieldDecision
class TimeBox:
    """Begin and end in the user's zone, or why there is nothing to book (yet)."""

    begin: datetime | None
    end: datetime | None
    duration_seconds: int
    begin_reason: str
    end_reason: str
    duration_reason: str
    skipped_reason: str | None = None
    # Set when the end is still in the future: the entry waits for a later run.
    waiting_reason: str | None = None
    begin_label: str = ""  # "2026-10-25 02:30 Europe/Berlin (UTC+02:00)", for people
    end_label: str = ""


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


def local_label(moment: datetime, zone: tzinfo, zone_name: str) -> str:
    """``"2026-10-25 02:30 Europe/Berlin"``; the UTC offset is added where the wall-clock time
    alone is ambiguous (the hour a daylight-saving change repeats)."""
    return _label(moment.astimezone(zone), zone_name)


def _label(local: datetime, zone_name: str) -> str:
    # Formatted by hand, and what an hour's labels share remembered per hour: strftime and a
    # second utcoffset() would cost more than the rest of planning an entry.
    hour = (zone_name, local.year, local.month, local.day, local.hour)
    known = _HOURS.get(hour)
    if known is None:
        if len(_HOURS) > 100_000:
            _HOURS.clear()
        known = _HOURS[hour] = _hour_label(local, zone_name)
    head, tail, ambiguous = known
    label = f"{head}{_MINUTES[local.minute]}{tail}"
    if ambiguous:
        offset = local.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
        label += f" (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"
    return label


def _hour_label(local: datetime, zone_name: str) -> tuple[str, str, bool]:
    """What every label of ``local``'s hour shares: the text before and after the minute, and
    whether the hour comes twice (a daylight-saving change repeats it)."""
    head = f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:"
    ambiguous = local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()
    return head, f" {zone_name}".rstrip(), ambiguous


_HOURS: dict[tuple[str, int, int, int, int], tuple[str, str, bool]] = {}
_MINUTES = tuple(f"{minute:02d}" for minute in range(60))


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


@lru_cache(maxsize=4096)
def _booked(seconds: int, settings: TimeSettings) -> tuple[int, timedelta, str, str]:
    """:func:`booked_minutes` and what every entry of that length shares: the length as a
    timedelta, and the reason of the end the length decides (the begin when the booked instant
    is the end, else the end)."""
    minutes, reason = booked_minutes(seconds, settings)
    if settings.instant == "end":
        derived = f"The end minus {format_minutes(minutes)}."
    else:
        derived = f"The start plus {format_minutes(minutes)}."
    return minutes, timedelta(minutes=minutes), reason, derived


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The instant the day starts in ``zone``, in UTC: arithmetic on aware datetimes that share
    a tzinfo is wall-clock arithmetic in Python, wrong across DST changes, so we stay in UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _ceil_minute(moment: datetime) -> datetime:
    floored = _floor_minute(moment)
    return floored if floored == moment else floored + ONE_MINUTE


def _skipped(duration_seconds: int) -> TimeBox:
    what = "no time" if duration_seconds == 0 else f"{format_seconds(duration_seconds)}"
    reason = (
        f"Zammad booked {what}: there is nothing to write to Kimai, which refuses empty "
        "and negative durations."
    )
    return TimeBox(None, None, 0, reason, reason, reason, skipped_reason=reason)


def _wall_clock_note(
    begin: datetime, end: datetime, local_begin: datetime, local_end: datetime, zone_name: str
) -> str:
    """What a person would otherwise wonder about: midnight or a DST change inside the work."""
    notes = []
    if local_begin.utcoffset() != local_end.utcoffset():
        notes.append(
            f" A daylight-saving change in {zone_name} falls inside the work: the wall clock "
            f"jumps, the length stays {format_minutes(int((end - begin).total_seconds() // 60))}."
        )
    last_day = local_end.date()
    if local_end.hour == local_end.minute == local_end.second == 0:  # ends at 24:00
        last_day -= timedelta(days=1)
    if local_begin.date() != last_day and local_begin.date() < last_day:
        notes.append(
            f" The work crosses midnight in {zone_name}; Kimai keeps it as one timesheet over "
            "both days."
        )
    return "".join(notes)


def _clip_to_one_day(
    begin: datetime, end: datetime, settings: TimeSettings, zone: tzinfo, zone_name: str
) -> tuple[datetime, datetime, str]:
    """Keep inside one day: clip what lies on the other side of midnight from the booked
    instant; returns the new begin and end and what was clipped ("" when nothing was)."""
    if settings.instant == "end":
        day = (end - timedelta(microseconds=1)).astimezone(zone).date()
        day_start = _midnight(day, zone)
        if begin >= day_start:
            return begin, end, ""
        lost = int((day_start - begin).total_seconds() // 60)
        clipped = (
            f" Keep inside one day (settings): the work began on the day before, so the "
            f"{format_minutes(lost)} before 00:00 on {day:%Y-%m-%d} ({zone_name}) are not booked."
        )
        return day_start, end, clipped
    day = begin.astimezone(zone).date()
    day_end = _midnight(day + timedelta(days=1), zone)
    if end <= day_end:
        return begin, end, ""
    lost = int((end - day_end).total_seconds() // 60)
    clipped = (
        f" Keep inside one day (settings): the work went on past midnight, so the "
        f"{format_minutes(lost)} after 24:00 on {day:%Y-%m-%d} ({zone_name}) are not booked."
    )
    return begin, day_end, clipped


def synthesize(
    booked_at: datetime,
    duration_seconds: int,
    zone: tzinfo,
    zone_name: str,
    settings: TimeSettings,
    now: datetime | None = None,
) -> TimeBox:
    """The timesheet's begin and end in ``zone`` (see the module docstring for the rules);
    ``now`` given, an end after it makes the entry wait."""
    if duration_seconds <= 0:
        return _skipped(duration_seconds)
    minutes, length, duration_reason, derived_reason = _booked(duration_seconds, settings)
    booked = booked_at.astimezone(UTC)
    if settings.instant == "end":
        end = booked.replace(second=0, microsecond=0)  # floored to the minute
        begin = end - length
        end_reason = ""  # names the end's own label, known below
        begin_reason = derived_reason
    else:
        begin = _ceil_minute(booked)
        end = begin + length
        at = local_label(booked, zone, zone_name)
        begin_reason = (
            f"Zammad booked the entry at {at}; the settings say that is the start (to the "
            "minute, never before it)."
        )
        end_reason = derived_reason
    if settings.one_day:
        begin, end, clipped = _clip_to_one_day(begin, end, settings, zone, zone_name)
        if clipped:
            minutes = int((end - begin).total_seconds() // 60)
            duration_reason += clipped + f" {format_minutes(minutes)} remain."
            if settings.instant == "end":
                begin_reason = "00:00, the start of the day the work ended (keep inside one day)."
            else:
                end_reason = "24:00, the end of the day the work started (keep inside one day)."
    local_begin, local_end = begin.astimezone(zone), end.astimezone(zone)
    begin_label, end_label = _label(local_begin, zone_name), _label(local_end, zone_name)
    if settings.instant == "end":
        end_reason = (
            f"Zammad booked the entry at {end_label}; the settings say that is the end (to the "
            "minute, never after it)."
        )
    # Most work starts and ends on one day at one UTC offset: nothing to note, and cheap to see.
    if local_begin.date() != local_end.date() or local_begin.utcoffset() != local_end.utcoffset():
        duration_reason += _wall_clock_note(begin, end, local_begin, local_end, zone_name)
    waiting = None
    if now is not None and end > now:
        waiting = (
            f"The work ends at {end_label}, which is still to come: a timesheet is never "
            "written in the future, so a run after that books it."
        )
    return TimeBox(
        local_begin, local_end, minutes * 60, begin_reason, end_reason, duration_reason,
        waiting_reason=waiting, begin_label=begin_label, end_label=end_label,
    )  # fmt: skip
