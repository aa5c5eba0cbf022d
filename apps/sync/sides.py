"""Zammad and Kimai as they are now, for conflict resolutions: read lazily, cached per batch."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType

from apps.connectors.base import SourceConnector, TargetConnector
from apps.connectors.entry import TimeEntry
from apps.mappings.engine import MappingContext, TimesheetPlan, plan_timesheet
from apps.mappings.lookups import ticket_facts
from apps.mappings.models import MappingProfile
from apps.sync.batches import mapping_context
from apps.sync.models import Conflict

# Kimai timesheets are looked up in a window around their begin (the connector has no GET by id).
SHEET_WINDOW = timedelta(days=1)


class Sides:
    """Zammad and Kimai as they are now, read lazily and cached for one resolution or batch."""

    def __init__(self, profile: MappingProfile) -> None:
        self.profile = profile
        self._source: SourceConnector | None = None
        self._target: TargetConnector | None = None
        self._tickets: dict[str, list[TimeEntry]] = {}
        self._windows: dict[tuple[datetime, datetime], dict[str, TimeEntry]] = {}
        self._context: MappingContext | None = None
        self.customers_made: dict[tuple[str, str], str] = {}

    def __enter__(self) -> Sides:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for connector in (self._source, self._target):
            if connector is not None:
                connector.close()

    @property
    def source(self) -> SourceConnector:
        if self._source is None:
            connector = self.profile.source.connector()
            assert isinstance(connector, SourceConnector)
            self._source = connector
        return self._source

    @property
    def target(self) -> TargetConnector:
        if self._target is None:
            connector = self.profile.target.connector()
            assert isinstance(connector, TargetConnector)
            self._target = connector
        return self._target

    def entry(self, conflict: Conflict) -> TimeEntry | None:
        ticket_id = conflict.ticket_id or str(
            ((conflict.source_snapshot or {}).get("entry") or {}).get("ticket_id") or ""
        )
        if not ticket_id:
            return None
        if ticket_id not in self._tickets:
            self._tickets[ticket_id] = self.source.fetch_entries_of_ticket(ticket_id)
        return next(
            (e for e in self._tickets[ticket_id] if e.external_id == conflict.source_id), None
        )

    def plan(self, entry: TimeEntry) -> TimesheetPlan:
        if self._context is None:
            self._context = mapping_context(
                self.profile, self.source, [entry], refresh_if_stale=False
            )
        context = self._context
        ticket = entry.ticket.id if entry.ticket else None
        if context.needs_ticket_details and ticket and ticket not in context.tickets:
            facts, _groups = ticket_facts(self.source, {ticket}, context.needs_ticket_tags)
            context.remember_tickets(facts.values())
        return plan_timesheet(entry, context)

    def sheet(self, kimai_id: str, around: datetime) -> TimeEntry | None:
        """Kimai timesheet ``kimai_id`` if it still begins within a day of ``around``."""
        day = around.replace(hour=0, minute=0, second=0, microsecond=0)
        window = (day - SHEET_WINDOW, day + 2 * SHEET_WINDOW)
        if window not in self._windows:
            sheets = self.target.fetch_timesheets_in_window(*window)
            self._windows[window] = {s.external_id: s for s in sheets}
        return self._windows[window].get(kimai_id)

    def forget_kimai(self) -> None:
        """After a write, the next lookup must see Kimai as it is now."""
        self._windows.clear()
