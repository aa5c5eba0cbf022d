"""A conflict's two sides, field by field: what Zammad's entry becomes and what Kimai holds.

Both snapshots keep ids and values only (no names of people): the Zammad side is the planned
timesheet (``plan_snapshot``), the Kimai side a ``timesheet_snapshot``. Pages and the API show
them side by side; user names come from ``Person`` at display time (``user_labels``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

FIELDS = (
    ("user", "User"),
    ("date", "Date"),
    ("begin", "Begin"),
    ("end", "End"),
    ("duration", "Duration"),
    ("customer", "Customer"),
    ("project", "Project"),
    ("activity", "Activity"),
    ("description", "Description"),
    ("billable", "Billable"),
    ("tags", "Tags"),
)
# The field a mapping problem leaves undecided: highlighted when there is no Kimai side.
PROBLEM_FIELDS = {
    "unmapped_user": "user",
    "unmapped_activity": "activity",
    "invalid_activity": "activity",
    "no_matching_rule": "project",
    "no_customer": "customer",
    "broken_rule": "project",
    "broken_mapping": "activity",
    "hidden_record": "project",
}


@dataclass(frozen=True)
class Side:
    """One timesheet as comparable values (ids where Kimai has ids)."""

    user_id: str | None = None
    begin: datetime | None = None
    end: datetime | None = None
    duration_seconds: int | None = None
    customer_id: str | None = None
    customer: str = ""
    project_id: str | None = None
    project: str = ""
    activity_id: str | None = None
    activity: str = ""
    description: str = ""
    billable: bool | None = None
    billable_display: str = ""
    tags: tuple[str, ...] = ()

    def as_dict(self, zone: tzinfo | None = None) -> dict[str, Any]:
        """JSON-ready, for the API (``date`` in the zone the times are shown in)."""
        begin, end = _in(self.begin, zone), _in(self.end, zone)
        return {
            "user_id": self.user_id,
            "date": begin.date().isoformat() if begin else None,
            "begin": begin.isoformat() if begin else None,
            "end": end.isoformat() if end else None,
            "duration_seconds": self.duration_seconds,
            "customer_id": self.customer_id,
            "customer": self.customer,
            "project_id": self.project_id,
            "project": self.project,
            "activity_id": self.activity_id,
            "activity": self.activity,
            "description": self.description,
            "billable": self.billable,
            "tags": list(self.tags),
        }


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _in(value: datetime | None, zone: tzinfo | None) -> datetime | None:
    if value is None or zone is None:
        return value
    return value.astimezone(zone)


def zammad_side(source_snapshot: Mapping[str, Any] | None) -> Side | None:
    """The planned timesheet of a conflict's entry; None when the entry is gone."""
    snapshot = source_snapshot or {}
    fields: Mapping[str, Any] = snapshot.get("timesheet") or {}
    entry: Mapping[str, Any] = snapshot.get("entry") or {}
    if not fields and not entry:
        return None

    def value(name: str) -> Any:
        decision = fields.get(name)
        return decision.get("value") if isinstance(decision, dict) else None

    def display(name: str) -> str:
        decision = fields.get(name)
        return str(decision.get("display") or "") if isinstance(decision, dict) else ""

    duration = value("duration")
    if duration is None:
        duration = entry.get("duration_seconds")
    begin = _time(value("begin"))
    billable = value("billable")
    return Side(
        user_id=_text(value("user")),
        begin=begin,
        end=_time(value("end")),
        duration_seconds=int(duration) if isinstance(duration, int | float) else None,
        customer_id=_text(value("customer")),
        customer=display("customer"),
        project_id=_text(value("project")),
        # The plan shows "Customer / Project"; the Kimai side names the project alone.
        project=display("project").split(" / ", 1)[-1],
        activity_id=_text(value("activity")),
        activity=display("activity"),
        description=str(value("description") or ""),
        billable=billable if isinstance(billable, bool) else None,
        billable_display=display("billable"),
        tags=tuple(str(t) for t in value("tags") or ()),
    )


def kimai_side(target_snapshot: Mapping[str, Any] | None) -> Side | None:
    if not target_snapshot:
        return None
    billable = target_snapshot.get("billable")
    return Side(
        user_id=_text(target_snapshot.get("user_id")),
        begin=_time(target_snapshot.get("begin")),
        end=_time(target_snapshot.get("end")),
        duration_seconds=target_snapshot.get("duration_seconds"),
        customer_id=_text(target_snapshot.get("customer_id")),
        customer=str(target_snapshot.get("customer") or ""),
        project_id=_text(target_snapshot.get("project_id")),
        project=str(target_snapshot.get("project") or ""),
        activity_id=_text(target_snapshot.get("activity_id")),
        activity=str(target_snapshot.get("activity") or ""),
        description=str(target_snapshot.get("description") or ""),
        billable=billable if isinstance(billable, bool) else None,
        tags=tuple(str(t) for t in target_snapshot.get("tags") or ()),
    )


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 60


def differing_fields(zammad: Side, kimai: Side, zone: tzinfo | None = None) -> list[str]:
    """Names of the fields (from FIELDS) on which the two timesheets disagree."""
    z_begin, k_begin = _in(zammad.begin, zone), _in(kimai.begin, zone)
    checks = {
        "user": zammad.user_id != kimai.user_id,
        "date": (z_begin.date() if z_begin else None) != (k_begin.date() if k_begin else None),
        "begin": not _same_instant(zammad.begin, kimai.begin),
        "end": not _same_instant(zammad.end, kimai.end),
        "duration": abs((zammad.duration_seconds or 0) - (kimai.duration_seconds or 0)) >= 60,
        "customer": zammad.customer_id != kimai.customer_id,
        "project": zammad.project_id != kimai.project_id,
        "activity": zammad.activity_id != kimai.activity_id,
        "description": zammad.description != kimai.description,
        # "Kimai decides" (None) on the Zammad side agrees with whatever Kimai decided.
        "billable": zammad.billable is not None and zammad.billable != kimai.billable,
        "tags": {t.casefold() for t in zammad.tags} != {t.casefold() for t in kimai.tags},
    }
    return [name for name, _label in FIELDS if checks[name]]


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    zammad: str
    kimai: str
    differs: bool
    missing: bool  # the Zammad side could not decide this field (a mapping problem)


@dataclass(frozen=True)
class Comparison:
    zammad: Side | None
    kimai: Side | None
    rows: tuple[Row, ...]
    differing: tuple[str, ...]
    zone: tzinfo | None

    @property
    def zone_name(self) -> str:
        """The zone the times are shown in, as a person reads it ("Europe/Berlin", "UTC+01:00")."""
        if self.zone is None:
            return ""
        return str(getattr(self.zone, "key", "") or self.zone.tzname(None) or self.zone)


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _cells(side: Side | None, zone: tzinfo | None, users: Mapping[str, str]) -> dict[str, str]:
    if side is None:
        return {name: "" for name, _label in FIELDS}
    begin, end = _in(side.begin, zone), _in(side.end, zone)
    if side.billable is None:
        billable = side.billable_display or "Kimai decides"
    else:
        billable = "yes" if side.billable else "no"
    return {
        "user": users.get(side.user_id, f"Kimai user #{side.user_id}") if side.user_id else "",
        "date": f"{begin:%Y-%m-%d}" if begin else "",
        "begin": f"{begin:%H:%M}" if begin else "",
        "end": f"{end:%H:%M}" if end else "",
        "duration": _duration(side.duration_seconds),
        "customer": side.customer or (f"#{side.customer_id}" if side.customer_id else ""),
        "project": side.project or (f"#{side.project_id}" if side.project_id else ""),
        "activity": side.activity or (f"#{side.activity_id}" if side.activity_id else ""),
        "description": side.description,
        "billable": billable,
        "tags": ", ".join(side.tags),
    }


def compare(
    source_snapshot: Mapping[str, Any] | None,
    target_snapshot: Mapping[str, Any] | None,
    user_labels: Mapping[str, str] | None = None,
    zone: tzinfo | None = None,
) -> Comparison:
    """Both sides as display rows; times shown in ``zone``, else in the zone of the Zammad
    side's plan (the Kimai user's)."""
    zammad, kimai = zammad_side(source_snapshot), kimai_side(target_snapshot)
    reference = (zammad.begin if zammad else None) or (kimai.begin if kimai else None)
    if zone is None:
        zone = reference.tzinfo if reference else None
    users = user_labels or {}
    differing = differing_fields(zammad, kimai, zone) if zammad and kimai else []
    problems = (source_snapshot or {}).get("problems") or []
    missing = {PROBLEM_FIELDS[p] for p in problems if p in PROBLEM_FIELDS}
    z_cells, k_cells = _cells(zammad, zone, users), _cells(kimai, zone, users)
    rows = tuple(
        Row(
            name,
            label,
            z_cells[name],
            k_cells[name],
            differs=name in differing,
            missing=zammad is not None and name in missing,
        )  # fmt: skip
        for name, label in FIELDS
    )
    return Comparison(zammad, kimai, rows, tuple(differing), zone)


def user_ids(*snapshots: Mapping[str, Any] | None) -> set[str]:
    """The Kimai user ids a set of snapshots names, to look their labels up in one query."""
    found: set[str] = set()
    for snapshot in snapshots:
        if not snapshot:
            continue
        user = (snapshot.get("timesheet") or {}).get("user")
        if isinstance(user, dict) and user.get("value") is not None:
            found.add(str(user["value"]))
        if snapshot.get("user_id") is not None:
            found.add(str(snapshot["user_id"]))
    return found
