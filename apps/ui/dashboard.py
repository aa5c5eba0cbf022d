"""What the dashboard shows beyond health: runs, conflicts, hours synced, connections, webhooks.

Each part is one or two queries whatever the history holds; the hours chart is computed here and
drawn by the template as inline SVG (no JavaScript, no library).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, DateField, IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Substr, TruncDate
from django.utils import timezone
from django_q.models import Schedule

from apps.connectors.models import Connection, WebhookDelivery
from apps.connectors.rejections import recent_rejections
from apps.core.models import AuditEvent
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Run
from apps.ui.setup import setup_context

CHART_DAYS = 30
CHART_MODES = {
    "worked": "by the day the work was done",
    "written": "by the day it was written to Kimai",
}
# Timesheets the sync (or a person resolving a conflict) wrote to Kimai: their hours per day.
CREATED = "kimai.timesheet.create"
UPDATED = "kimai.timesheet.update"


@dataclass(frozen=True)
class Bar:
    day: date
    created_hours: float
    updated_hours: float
    x: float  # in the chart's 0..300 × 0..100 viewBox
    width: float
    created_y: float
    created_height: float
    updated_y: float
    updated_height: float

    @property
    def hours(self) -> float:
        return self.created_hours + self.updated_hours


@dataclass(frozen=True)
class HoursChart:
    bars: list[Bar]
    top: float  # hours at the top gridline
    total_created: float
    total_updated: float
    ticks: list[tuple[float, str]]  # (left in %, label) under the chart
    mode: str = "worked"  # or "written"
    zone: str = "UTC"  # the server's, for days written

    @property
    def mode_label(self) -> str:
        return CHART_MODES[self.mode]

    @property
    def empty(self) -> bool:
        return not (self.total_created or self.total_updated)

    @property
    def middle(self) -> float:
        return self.top / 2


def _nice_top(peak: float) -> float:
    """A round number of hours at or above ``peak`` for the top gridline."""
    for step in (1, 2, 4, 5, 8, 10, 12, 16, 20, 24, 40, 50, 80, 100, 200, 500, 1000):
        if peak <= step:
            return float(step)
    return float(int(peak) + 1)


def _hours_per_day(first: date, mode: str) -> dict[date, tuple[int, int]]:
    """Seconds created and updated per day, by the day worked (the date of the timesheet's
    begin as Kimai shows it, in its user's zone) or by the day written (server zone)."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(first, datetime.min.time(), zone)
    seconds = Cast(KT("after__duration_seconds"), IntegerField())
    events = AuditEvent.objects.filter(action__in=[CREATED, UPDATED])
    if mode == "worked":
        # Work is written after it begins: events older than the window, less a day for
        # zones, hold no work done in it (and the filter on `at` uses its index).
        day = Cast(Substr(KT("after__begin"), 1, 10), DateField())
        events = events.filter(at__gte=start - timedelta(days=1)).annotate(day=day)
        events = events.filter(day__gte=first)
    else:
        events = events.filter(at__gte=start).annotate(day=TruncDate("at", tzinfo=zone))
    rows = (
        events.values("day")
        .annotate(
            created=Sum(seconds, filter=Q(action=CREATED)),
            updated=Sum(seconds, filter=Q(action=UPDATED)),
        )
        .order_by()
    )
    return {row["day"]: (row["created"] or 0, row["updated"] or 0) for row in rows}


def hours_chart(today: date | None = None, mode: str = "worked") -> HoursChart:
    today = today or timezone.localdate()
    mode = mode if mode in CHART_MODES else "worked"
    first = today - timedelta(days=CHART_DAYS - 1)
    per_day = _hours_per_day(first, mode)
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    hours = [(per_day.get(d, (0, 0))[0] / 3600, per_day.get(d, (0, 0))[1] / 3600) for d in days]
    top = _nice_top(max((c + u for c, u in hours), default=0.0))
    slot = 300 / CHART_DAYS
    bars = []
    for index, (day, (created, updated)) in enumerate(zip(days, hours, strict=True)):
        created_height = 100 * created / top
        updated_height = 100 * updated / top
        bars.append(
            Bar(
                day=day, created_hours=created, updated_hours=updated,
                x=round(index * slot + slot * 0.15, 2), width=round(slot * 0.7, 2),
                created_y=round(100 - created_height, 2), created_height=round(created_height, 2),
                updated_y=round(100 - created_height - updated_height, 2),
                updated_height=round(updated_height, 2),
            )
        )  # fmt: skip
    ticks = [
        (round(100 * (i + 0.5) / CHART_DAYS, 2), f"{days[i]:%b %d}")
        for i in range(0, CHART_DAYS, 7)
    ]
    return HoursChart(
        bars, top, sum(c for c, _ in hours), sum(u for _, u in hours), ticks, mode,
        str(timezone.get_current_timezone()),
    )  # fmt: skip


def _describe_schedule(schedule: Schedule) -> str:
    if schedule.func.endswith("scheduled_incremental"):
        return f"Changes since the last run (every {schedule.minutes} minutes)"
    if schedule.func.endswith("scheduled_full"):
        return "Full reconcile of the lookback window (nightly)"
    return schedule.name or schedule.func


def sync_overview() -> dict[str, Any]:
    latest = Run.objects.filter(dry_run=False).first()
    last_finished = (
        latest
        if latest is None or latest.finished
        else Run.objects.filter(dry_run=False, status__in=Run.FINISHED).first()
    )
    schedules = Schedule.objects.filter(name__startswith="zks-").order_by("next_run")
    next_runs = [(s.next_run, _describe_schedule(s)) for s in schedules]
    # Pairs whose schedule is off (every new one, until the admin switches it on).
    schedule_off = list(
        MappingProfile.objects.exclude(sync_settings__schedule_enabled=True).select_related(
            "source", "target"
        )
    )
    return {
        "latest_run": latest,
        "last_finished": last_finished,
        "next_runs": next_runs,
        "schedule_off": schedule_off,
    }


def open_conflicts() -> dict[str, Any]:
    counts = dict(
        Conflict.objects.filter(status=Conflict.Status.OPEN)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    kinds = [
        (value, label, counts[value]) for value, label in Conflict.Kind.choices if value in counts
    ]
    return {"conflict_kinds": kinds, "open_conflicts": sum(counts.values())}


@dataclass(frozen=True)
class ConnectionHealth:
    connection: Connection
    state: str  # "ok", "fail", "unchecked", "disabled"
    detail: str


def connection_health() -> list[ConnectionHealth]:
    rows = []
    for connection in Connection.objects.all():
        report = connection.last_check or {}
        if not connection.enabled:
            rows.append(ConnectionHealth(connection, "disabled", "disabled"))
        elif not connection.kind_available:  # its last check predates the uninstall
            rows.append(ConnectionHealth(connection, "fail", connection.kind_problem))
        elif connection.last_checked is None:
            rows.append(ConnectionHealth(connection, "unchecked", "not tested yet"))
        elif connection.last_error or not report.get("ok", False):
            rows.append(ConnectionHealth(connection, "fail", connection.last_error or "failed"))
        else:
            version = report.get("version")
            detail = f"works, version {version}" if version else "works"
            rows.append(ConnectionHealth(connection, "ok", detail))
    return rows


def recent_deliveries(limit: int = 10) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.select_related("connection", "run")[:limit])


def dashboard_context(chart_mode: str = "worked") -> dict[str, Any]:
    return {
        **setup_context(),
        **sync_overview(),
        **open_conflicts(),
        "chart": hours_chart(mode=chart_mode),
        "connections": connection_health(),
        "deliveries": recent_deliveries(),
        "rejections": recent_rejections(limit=5),
    }
